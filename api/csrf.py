"""CSRF protection for cookie-authenticated requests (pages and their fetches).

Signed in: the token is bound to the session (an HMAC of the session token's id with the server
secret), so a token from another session, or a cookie planted by a sibling subdomain, does not pass.
Before sign-in (the login form): a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import jwt
from fastapi import Request, Response

from api.i18n import N_
from services.core.errors import DomainError

SESSION_COOKIE = "eltrace_token"  # the pages' sign-in (httponly; state changes also need the CSRF token)
CSRF_COOKIE = "eltrace_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class CsrfRejected(DomainError):
    """A state-changing request with a cookie session but without a matching CSRF token."""

    code = "csrf_rejected"
    status = 403


def _session_bound(request: Request) -> str | None:
    """The token of the browser's session, or None before sign-in (authentication itself is checked elsewhere)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    secret = request.app.state.settings.secret_key.get_secret_value()
    try:
        claims = jwt.decode(raw, secret, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return None
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return None
    return hmac.new(secret.encode(), f"csrf|{jti}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The page's token: bound to the session when signed in, else a double-submit cookie (set when missing)."""
    bound = _session_bound(request)
    if bound is not None:
        return bound
    token = request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def set_csrf_cookie(request: Request, response: Response, *, secure: bool) -> None:
    """Persist a token created while rendering."""
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="strict", secure=secure, path="/")


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse unless the submitted token (form field or header) is the session's (or, before sign-in, the cookie's)."""
    bound = _session_bound(request)
    if bound is not None:
        if not submitted or not hmac.compare_digest(bound, submitted):
            raise CsrfRejected(N_("missing or wrong CSRF token; reload the page and try again"))
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise CsrfRejected(N_("missing or wrong CSRF token; reload the page and try again"))
