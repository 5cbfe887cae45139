"""Request-scoped dependencies: the transaction, the caller's identity and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Path, Request, Response
from fastapi.security import OAuth2PasswordBearer
from pydantic import AfterValidator, BaseModel, BeforeValidator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.csrf import CSRF_FIELD, CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, check_csrf
from api.i18n import N_
from services.contracts.result import BARCODE_PATTERN, normalise_barcode
from services.core.db import transaction
from services.core.errors import Forbidden
from services.core.settings import ApiSettings
from services.devices.service import AuthenticatedDevice, authenticate, station_line
from services.imagestore.store import BlobStore
from services.security.service import AuthFailed, Principal, Role, principal_from_token, renewed_token

T = TypeVar("T")
# A barcode in a URL, by the one rule (services.contracts.result.normalise_barcode): a Caps Lock scan finds the module.
BarcodePath = Annotated[
    str, BeforeValidator(lambda v: normalise_barcode(v) if isinstance(v, str) else v), Path(pattern=BARCODE_PATTERN)
]
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_settings(request: Request) -> ApiSettings:
    """The app's settings."""
    return request.app.state.settings  # type: ignore[no-any-return]


def get_blobs(request: Request) -> BlobStore:
    """The image blob store."""
    return request.app.state.blobs  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed if the handler succeeds, rolled back otherwise."""
    with transaction(request.app.state.sessions) as session:
        yield session


# scope="function": the commit runs when the handler returns, before the response is sent. With the default
# ("request") it runs after, so a client could be told 2xx for a change whose commit then fails, and a
# page's redirect could be followed before the change is visible.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def in_transaction(request: Request, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """For async handlers that stream a body first: fn(session, ...) in a worker thread, in one transaction.

    The same rule as SessionDep (commit on success, roll back on any error), without blocking the event loop.
    """

    def call() -> T:
        with transaction(request.app.state.sessions) as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(call)


async def _submitted_csrf(request: Request) -> str | None:
    """The CSRF token of an unsafe request: the header (fetch) or the form field (a page's form post)."""
    if request.method in SAFE_METHODS:
        return None
    token = request.headers.get(CSRF_HEADER)
    ctype = request.headers.get("content-type", "")
    if token is None and ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)  # parsed once; the handler's Form() fields reuse it
        token = value if isinstance(value, str) else None
    return token


def current_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2)],
    submitted_csrf: Annotated[str | None, Depends(_submitted_csrf)],
) -> Principal:
    """The person behind the bearer token (or the page session cookie)."""
    raw = token
    if not raw:
        raw = request.cookies.get(SESSION_COOKIE)
        if raw and request.method not in SAFE_METHODS:
            # A cookie rides along with any request the browser sends: state changes need the CSRF token too.
            check_csrf(request, submitted_csrf)
    if not raw:
        raise AuthFailed(N_("authentication required"))
    settings = get_settings(request)
    principal = principal_from_token(session=session, token=raw, secret=settings.secret_key.get_secret_value())
    if not token:  # a page session (cookie): it slides while the person works, up to a shift
        request.state.renewed_token = renewed_token(
            token=raw,
            secret=settings.secret_key.get_secret_value(),
            ttl=settings.token_ttl,
            max_session=timedelta(hours=settings.session_max_hours),
        )
    request.state.principal = principal
    request.state.token = raw  # sign-out ends exactly this token  # an error page rendered later still shows who is signed in
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    """Dependency: the caller must be a person with one of `roles` (admin always passes)."""
    allowed = set(roles) | {Role.ADMIN}

    def dep(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(N_("role %(role)s may not do this"), role=principal.role)
        return principal

    dep.required_roles = allowed  # type: ignore[attr-defined]  # read by the route-walking test
    return dep


def current_device(session: SessionDep, x_device_key: Annotated[str | None, Header()] = None) -> AuthenticatedDevice:
    """The edge device behind X-Device-Key; devices may only use the edge routes."""
    if not x_device_key:
        raise AuthFailed(N_("device key required"))
    device = authenticate(session=session, api_key=x_device_key)
    if device is None:
        raise AuthFailed(N_("unknown or revoked device key"))
    if device.role != "edge":
        raise Forbidden(N_("this key is not an edge device's"))
    return device


def current_mes_client(session: SessionDep, x_device_key: Annotated[str | None, Header()] = None) -> AuthenticatedDevice:
    """The plant system (MES) behind X-Device-Key: the gate, the events feed and single MES posts."""
    if not x_device_key:
        raise AuthFailed(N_("MES client key required"))
    client = authenticate(session=session, api_key=x_device_key)
    if client is None:
        raise AuthFailed(N_("unknown or revoked key"))
    if client.role != "mes":
        raise Forbidden(N_("this key is not a MES client's"))
    return client


ANY_PERSON = (Role.OPERATOR, Role.QUALITY_ENGINEER, Role.CUSTOMER_SERVICE)

# Who may call a route, declared once (admin always passes): use these as the type of the caller parameter.
AnyPerson = Annotated[Principal, Depends(require(*ANY_PERSON))]
ReworkPerson = Annotated[Principal, Depends(require(Role.OPERATOR, Role.QUALITY_ENGINEER))]
Engineer = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER))]
Investigator = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER, Role.CUSTOMER_SERVICE))]
Staff = Investigator  # complaints and 8D: customer service and quality engineers
Admin = Annotated[Principal, Depends(require())]
DeviceDep = Annotated[AuthenticatedDevice, Depends(current_device)]
MesDep = Annotated[AuthenticatedDevice, Depends(current_mes_client)]


def line_scope(principal: Principal) -> str | None:
    """An operator bound to a line sees that line's modules only; everyone else sees all."""
    return principal.line if principal.role is Role.OPERATOR and principal.line else None


def station_scope(session: Session, principal: Principal, station: str | None) -> str | None:
    """An operator works the line of the station they stand at (its registered line), else their own line."""
    if principal.role is not Role.OPERATOR:
        return None
    registered = station_line(session=session, code=station) if station else None
    return registered or line_scope(principal)


class ErrorRead(BaseModel):
    """Every domain error: a stable code and a human-readable detail."""

    error: str
    detail: str


# Documented on every router so clients (and the schema fuzzer) know the error shape.
ERRORS: dict[int | str, dict[str, object]] = {code: {"model": ErrorRead} for code in (400, 401, 403, 404, 409, 413)}


_EARLIEST, _LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _instant(t: datetime) -> datetime:
    t = t if t.tzinfo else t.replace(tzinfo=UTC)  # a date picker sends no zone: taken as UTC
    if not _EARLIEST <= t <= _LATEST:
        raise ValueError("a time between 2000-01-01 and 2100-01-01 (UTC unless it names a zone)")
    return t


# A time in a query: naive is read as UTC, and outside 2000-2100 it is a 422 with that reason, never a 500.
Instant = Annotated[datetime, AfterValidator(_instant)]


def set_session_cookie(response: Response, token: str, settings: ApiSettings) -> None:
    """The page session's cookie (sign-in and every renewal set it the same way)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.profile == "production",
        max_age=int(settings.token_ttl.total_seconds()),
        path="/",
    )
