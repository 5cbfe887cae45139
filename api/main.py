"""FastAPI application factory: thin HTTP layer over services/, one package per domain (JSON routes and pages together)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from api import (
    audit,
    auth,
    complaints,
    edge,
    errors,
    events,
    gate,
    health,
    history,
    inspection,
    metrics,
    registry,
    review,
    rework,
    stations,
    traceability,
)
from api.csrf import SESSION_COOKIE
from api.deps import set_session_cookie
from api.headers import hardened, install_docs
from api.i18n import LocaleMiddleware
from api.limits import BodyCap
from api.render import STATIC_DIR
from services.core.db import make_engine, make_sessionmaker
from services.core.settings import ApiSettings
from services.imagestore.store import DirectoryBlobStore

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
DOMAINS = (
    health,
    auth,
    edge,
    inspection,
    history,
    audit,
    registry,
    review,
    rework,
    traceability,
    metrics,
    complaints,
    stations,
    events,
    gate,
)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app; the engine and image store live on app.state."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.engine.dispose()

    production = settings.profile == "production"
    app = FastAPI(
        title="eltrace traceability API",
        version="0.1.0",
        description="String EL inspection results, module history, rework, complaints.",
        lifespan=lifespan,
        # The docs are served from the swagger-ui-bundle package (below), never from a CDN, and not in production.
        docs_url=None,
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )
    engine = make_engine(settings.resolved_database_url())
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    image_dir = settings.resolved_image_dir()
    image_dir.mkdir(parents=True, exist_ok=True)
    app.state.blobs = DirectoryBlobStore(image_dir)
    errors.install(app)

    # Bytes received, not only a declared Content-Length, count against the route's cap (chunked bodies).
    # Added first, so it sits inside the request-id middleware: its 413 then comes from the route's own
    # exception handling instead of an exception group out of BaseHTTPMiddleware's task.
    app.add_middleware(BodyCap, api=app)
    app.add_middleware(LocaleMiddleware, default=settings.default_locale, plant_timezone=settings.plant_timezone)

    @app.middleware("http")
    async def request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
        # One id per request in every log line and in the response, for tracing a complaint to a request.
        # The client's id only in a bounded, safe form: it lands in the audit trail and in every log line.
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["X-Request-ID"] = rid
        renewed = getattr(request.state, "renewed_token", None)
        if renewed and SESSION_COOKIE not in response.headers.get("set-cookie", ""):  # not over a sign-in / out
            set_session_cookie(response, renewed, settings)
        hardened(response, https=request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https")
        return response

    for domain in DOMAINS:
        for router in domain.ROUTERS:
            app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    if not production:
        install_docs(app)
    return app
