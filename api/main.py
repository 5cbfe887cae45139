"""FastAPI application factory: thin HTTP layer over services/."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routers import audit, auth, complaints, health, images, modules, rework, traceability
from api.web import complaint_pages, pages, work_pages
from services.core.db import make_engine, make_sessionmaker
from services.core.errors import DomainError
from services.core.settings import ApiSettings
from services.imagestore.store import DirectoryBlobStore

MAX_JSON_BODY = 1024 * 1024
MAX_UPLOAD_BODY = 64 * 1024 * 1024  # streamed handlers check their own, smaller caps too


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app; the engine and image store live on app.state."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="eltrace traceability API",
        version="0.1.0",
        description="String EL inspection results, module history, rework, complaints.",
        lifespan=lifespan,
    )
    engine = make_engine(settings.resolved_database_url())
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    image_dir = settings.resolved_image_dir()
    image_dir.mkdir(parents=True, exist_ok=True)
    app.state.blobs = DirectoryBlobStore(image_dir)
    app.state.login_throttle = auth.FailedLoginThrottle()

    @app.exception_handler(DomainError)
    async def domain_error(req: Request, exc: DomainError) -> Response:
        if exc.status == 401 and not req.url.path.startswith("/api/") and "text/html" in req.headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)  # a person's browser: to the sign-in page
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework errors (unparseable body, unknown route, wrong method) in the same shape as ours.
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.middleware("http")
    async def request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
        # One id per request in every log line and in the response, for tracing a complaint to a request.
        rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["X-Request-ID"] = rid
        return response

    @app.middleware("http")
    async def body_cap(request: Request, call_next):  # type: ignore[no-untyped-def]
        # Image uploads have their own (larger) cap, enforced while streaming.
        # CSV imports too (streamed, capped in their handler).
        path = request.url.path
        uploads = path.startswith("/api/v1/edge/images/") or (path.startswith("/api/v1/imports/") and path.endswith("/csv"))
        # Complaint forms and attachments carry photos (10 MiB each, checked per file in the service).
        uploads = uploads or path == "/complaints" or (path.startswith("/api/v1/complaints/") and path.endswith("/attachments"))
        cap = MAX_UPLOAD_BODY if uploads else MAX_JSON_BODY
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            return JSONResponse({"error": "payload_too_large", "detail": f"body over {cap} bytes"}, status_code=413)
        return await call_next(request)

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(modules.router)
    app.include_router(images.router)
    app.include_router(images.edge_router)
    app.include_router(audit.router)
    app.include_router(rework.router)
    app.include_router(traceability.router)
    app.include_router(complaints.router)
    app.include_router(pages.router)
    app.include_router(work_pages.router)
    app.include_router(complaint_pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(pages.__file__).parent / "static")), name="static")
    return app
