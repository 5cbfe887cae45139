"""Signing in and out on the pages: a cookie session (same lockout and throttle as the API) and CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.csrf import check_csrf
from api.deps import SESSION_COOKIE, SessionDep, get_settings, set_session_cookie
from api.errors import safe_next
from api.i18n import LANG_COOKIE, LOCALES, N_
from api.i18n import gettext as _
from api.render import render
from services.core.db import transaction
from services.core.errors import InvalidInput
from services.security.service import (
    AuthFailed,
    check_address,
    failed_from,
    issue_token,
    login,
    principal_from_token,
    set_locale,
    sign_out,
)

router = APIRouter(include_in_schema=False)


SIGN_IN_WHY = {
    "expired": N_("Your session has ended. Sign in again to go on where you were."),
    "expired_post": N_("Your session had ended, so your last key or form was NOT recorded. Sign in and do it again."),
}
LANG_COOKIE_AGE = 400 * 24 * 3600  # a terminal keeps its language across shifts (browsers cap cookies at 400 days)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, why: str | None = None) -> Response:
    """The sign-in form; after signing in the person goes back to `next` (a same-site path)."""
    notice = SIGN_IN_WHY.get(why or "")
    return render(request, "login.html", next=safe_next(next), notice=_(notice) if notice else None)


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
        return render(request, "login.html", status=401, error=_(exc.detail), next=safe_next(next))
    settings = get_settings(request)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(
        response, issue_token(principal, secret=settings.secret_key.get_secret_value(), ttl=settings.token_ttl), settings
    )
    if principal.locale in LOCALES:  # the person's own language, whatever the terminal showed before
        response.set_cookie(LANG_COOKIE, principal.locale, max_age=LANG_COOKIE_AGE, samesite="lax", path="/")
    return response


@router.post("/language")
def choose_language(
    request: Request,
    session: SessionDep,
    locale: Annotated[str, Form(max_length=8)],
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Switch the pages' language: kept by this browser and, when signed in, saved with the person."""
    check_csrf(request, csrf_token)
    if locale not in LOCALES:
        raise InvalidInput(
            N_("unknown language %(locale)s; choose one of %(choices)s"), locale=locale, choices=", ".join(LOCALES)
        )
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            principal = principal_from_token(
                session=session, token=token, secret=get_settings(request).secret_key.get_secret_value()
            )
        except AuthFailed:
            principal = None  # an ended session still switches this browser's language
        if principal is not None:
            set_locale(session=session, username=principal.username, locale=locale)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, locale, max_age=LANG_COOKIE_AGE, samesite="lax", path="/")
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
