"""Signing in and out on the pages: a cookie session (same lockout and throttle as the API) and CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.csrf import check_csrf
from api.deps import SESSION_COOKIE, SessionDep, get_settings
from api.render import render
from services.core.db import transaction
from services.security.service import AuthFailed, check_address, failed_from, issue_token, login, sign_out

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The sign-in form."""
    return render(request, "login.html")


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the password and set the session cookie."""
    check_csrf(request, csrf_token)
    addr = request.client.host if request.client else "unknown"
    check_address(session=session, address=addr)
    try:
        principal = login(session=session, username=username, password=password)
    except AuthFailed as exc:
        failed_from(session=session, address=addr)
        session.commit()  # the failure counts must persist, or there is no throttle and no wait
        return render(request, "login.html", status=401, error=exc.detail)
    settings = get_settings(request)
    response = RedirectResponse("/", status_code=303)
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
