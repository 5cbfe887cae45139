"""One error story at the HTTP boundary: services raise DomainError; this renders it for whoever asked.

- JSON callers get {"error": code, "detail": ...} with the error's status (422 only for payload validation);
- a person's browser asking for a page gets the error page (or the sign-in page for 401);
- a page's refused form post (PageBack) goes back to the form with the reason.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.csrf import SESSION_COOKIE
from api.i18n import N_
from api.i18n import gettext as _
from api.render import PageBack, back_url, render
from api.words import error_text, word
from services.core.errors import DomainError

FRAMEWORK_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


# What a person reads for each kind of refused field (pydantic's error types), instead of pydantic's English.
VALIDATION = {
    "missing": N_("%(field)s: required."),
    "string_too_short": N_("%(field)s: too short (at least %(min_length)s characters)."),
    "string_too_long": N_("%(field)s: too long (at most %(max_length)s characters)."),
    "too_long": N_("%(field)s: too many entries (at most %(max_length)s)."),
    "string_pattern_mismatch": N_("%(field)s: not in the expected form."),
    "greater_than_equal": N_("%(field)s: at least %(ge)s."),
    "less_than_equal": N_("%(field)s: at most %(le)s."),
    "greater_than": N_("%(field)s: more than %(gt)s."),
    "less_than": N_("%(field)s: less than %(lt)s."),
    "int_parsing": N_("%(field)s: a whole number."),
    "float_parsing": N_("%(field)s: a number."),
    "bool_parsing": N_("%(field)s: yes or no."),
    "enum": N_("%(field)s: choose one of %(expected)s."),
    "literal_error": N_("%(field)s: choose one of %(expected)s."),
    "date_from_datetime_parsing": N_("%(field)s: a day like 2026-11-25."),
    "date_parsing": N_("%(field)s: a day like 2026-11-25."),
    "datetime_parsing": N_("%(field)s: a date and time like 2026-11-25 14:30."),
    "datetime_from_date_parsing": N_("%(field)s: a date and time like 2026-11-25 14:30."),
    "timezone_aware": N_("%(field)s: a date and time with its time zone."),
}
OTHER = N_("%(field)s: not accepted.")


def validation_text(errors: list[dict[str, object]]) -> str:
    """Refused fields of a request, one sentence each, in the reader's language (field names as words)."""
    out = []
    for e in errors[:5]:
        loc = [str(x) for x in e.get("loc", ()) if not isinstance(x, int)]  # type: ignore[union-attr]
        field = word(loc[-1], "audit_field") if loc else "?"
        params = {"field": field, **{k: str(v) for k, v in dict(e.get("ctx") or {}).items()}}  # type: ignore[call-overload]
        try:
            out.append(_(VALIDATION.get(str(e.get("type")), OTHER)) % params)
        except (KeyError, ValueError):  # a context this message does not name: the plain sentence
            out.append(_(OTHER) % {"field": field})
    return " ".join(out)


def wants_page(request: Request) -> bool:
    """A person's browser on a page route (not the JSON API, not a fetch)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def safe_next(target: str | None) -> str:
    """A same-site path to return to after signing in ("/" for anything else: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or any(c in target for c in "\r\n\\"):
        return "/"
    return target[:500]


def login_url(request: Request) -> str:
    """/login with where to come back to and why the person is asked to sign in."""
    if request.method == "GET":
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:  # a form post (a key at the station): back to the page it came from
        ref = urlsplit(request.headers.get("referer", ""))
        back = (ref.path + (f"?{ref.query}" if ref.query else "")) if ref.netloc == request.url.netloc else "/"
    had_session = SESSION_COOKIE in request.cookies
    why = ("expired_post" if request.method != "GET" else "expired") if had_session else "signin"
    params = {k: v for k, v in (("next", safe_next(back)), ("why", why)) if v not in ("/", "signin")}
    return f"/login?{urlencode(params)}" if params else "/login"


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if wants_page(request):
            if exc.status == 401:  # to the sign-in page, and back here afterwards
                return RedirectResponse(login_url(request), status_code=303)
            return render(request, "error.html", status=exc.status, error=error_text(exc))
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if not wants_page(request):
            return await request_validation_exception_handler(request, exc)  # the API's 422, for scripts
        text = validation_text(list(exc.errors()))
        ref = urlsplit(request.headers.get("referer", ""))
        if request.method != "GET" and ref.netloc == request.url.netloc:  # a form: back to it, with the reason
            return RedirectResponse(back_url(safe_next(ref.path + (f"?{ref.query}" if ref.query else "")), text), status_code=303)
        return render(request, "error.html", status=422, error=text)

    @app.exception_handler(PageBack)
    async def page_back(_request: Request, exc: PageBack) -> Response:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework errors (unparseable body, unknown route, wrong method) in the same shape as ours.
        code = FRAMEWORK_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )
