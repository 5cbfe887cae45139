"""One error story at the HTTP boundary: services raise DomainError; this renders it for whoever asked.

- JSON callers get {"error": code, "detail": ...} with the error's status (422 only for payload validation);
- a person's browser asking for a page gets the error page (or the sign-in page for 401);
- a page's refused form post (PageBack) goes back to the form with the reason.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.render import PageBack, render
from services.core.errors import DomainError

FRAMEWORK_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def wants_page(request: Request) -> bool:
    """A person's browser on a page route (not the JSON API, not a fetch)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if wants_page(request):
            if exc.status == 401:
                return RedirectResponse("/login", status_code=303)  # to the sign-in page
            return render(request, "error.html", status=exc.status, error=exc.detail)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=headers)

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
