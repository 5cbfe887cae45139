"""Server-rendered pages (Jinja2): sign in / out and the landing page. Cookie session + CSRF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.deps import ANY_PERSON, SessionDep, get_settings, line_scope, require
from api.web.csrf import check_csrf, csrf_token, set_csrf_cookie
from services.audit.service import entries as audit_entries
from services.inspection import service as inspections
from services.security.service import AuthFailed, Principal, Role, issue_token, login

SESSION_COOKIE = "eltrace_token"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)


def _render(request: Request, name: str, status: int = 200, **ctx: object) -> Response:
    ctx.setdefault("user", None)
    response = templates.TemplateResponse(request, name, {"csrf": csrf_token(request), **ctx}, status_code=status)
    set_csrf_cookie(request, response, secure=get_settings(request).profile == "production")
    return response


def back_with_error(path: str, detail: str, anchor: str = "") -> Response:
    """Post / redirect / get: back to the page, which shows why nothing was saved."""
    return RedirectResponse(f"{path}?{urlencode({'error': detail})}{'#' + anchor if anchor else ''}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The sign-in form."""
    return _render(request, "login.html")


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the password (same lockout and throttle as the API) and set the session cookie."""
    check_csrf(request, csrf_token)
    addr = request.client.host if request.client else "unknown"
    throttle = request.app.state.login_throttle
    throttle.check(addr)
    try:
        principal = login(session=session, username=username, password=password)
    except AuthFailed as exc:
        throttle.failed(addr)
        session.commit()
        return _render(request, "login.html", status=401, error=exc.detail)
    settings = get_settings(request)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issue_token(principal, secret=settings.secret_key.get_secret_value()),
        httponly=True,
        samesite="lax",
        secure=settings.profile == "production",
        max_age=30 * 60,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    """Forget the session cookie."""
    check_csrf(request, csrf_token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, user: Annotated[Principal, Depends(require(*ANY_PERSON))]) -> Response:
    """Recent results."""
    page = inspections.list_inspections(session=session, offset=0, limit=50, line=line_scope(user))
    return _render(request, "home.html", user=user, inspections=page.items)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, session: SessionDep, user: Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER))], offset: int = 0
) -> Response:
    """The audit trail for quality engineers and admins."""
    rows, total = audit_entries(session=session, offset=max(0, offset), limit=100)
    return _render(request, "audit.html", user=user, entries=rows, total=total, offset=max(0, offset))
