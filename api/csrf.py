"""Double-submit CSRF protection for cookie-authenticated requests (pages and their fetches)."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from services.core.errors import DomainError

CSRF_COOKIE = "eltrace_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class CsrfRejected(DomainError):
    """A state-changing request with a cookie session but without a matching CSRF token."""

    code = "csrf_rejected"
    status = 403


def csrf_token(request: Request) -> str:
    """The page's token; a new one is set as a cookie when the browser has none."""
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
    """Refuse unless the submitted token (form field or header) equals the cookie's."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        raise CsrfRejected("missing or wrong CSRF token; reload the page and try again")
