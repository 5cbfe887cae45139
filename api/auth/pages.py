"""Signing in and out on the pages: a cookie session (same lockout and throttle as the API) and CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.csrf import check_csrf
from api.deps import SESSION_COOKIE, SessionDep, get_settings
from api.errors import safe_next
from api.render import render
from services.core.db import transaction
from services.security.service import AuthFailed, check_address, failed_from, issue_token, login, sign_out

router = APIRouter(include_in_schema=False)


SIGN_IN_WHY = {
    "expired": "Your session has ended. Sign in again to go on where you were.",
    "expired_post": "Your session had ended, so your last key or form was NOT recorded. Sign in and do it again.",
}


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, why: str | None = None) -> Response:
    """The sign-in form; after signing in the person goes back to `next` (a same-site path)."""
    return render(request, "login.html", next=safe_next(next), notice=SIGN_IN_WHY.get(why or ""))


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Check the password, set the session cookie and go back to where the person was."""
    check_csrf(request, csrf_token)
    addr = request.client.host if request.client else "unknown"
    check_address(session=session, address=addr)
    try:
        principal = login(session=session, username=username, password=password)
    except AuthFailed as exc:
        failed_from(session=session, address=addr)
        session.commit()  # the failure counts must persist, or there is no throttle and no wait
        return render(request, "login.html", status=401, error=exc.detail, next=safe_next(next))
    settings = get_settings(request)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issue_token(principal, secret=settings.secret_key.get_secret_value(), ttl=settings.token_ttl),
        httponly=True,
        samesite="lax",
        secure=settings.profile == "production",
        max_age=int(settings.token_ttl.total_seconds()),
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    """End the session: the token is revoked in the database (a copied cookie stops working too), the cookie forgotten."""
    check_csrf(request, csrf_token)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with transaction(request.app.state.sessions) as session:
            sign_out(session=session, token=token, secret=get_settings(request).secret_key.get_secret_value())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
