"""Inspections, modules and their images for people (an operator sees only their line); the shift calendar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import ERRORS, Admin, AnyPerson, Engineer, Instant, SessionDep, get_blobs, get_settings, line_scope
from api.headers import UPLOAD_CSP
from api.i18n import N_
from services.contracts import Verdict
from services.core.errors import NotFound
from services.core.pagination import Page
from services.imagestore.preview import preview_jpeg
from services.imagestore.store import load_image, stored_image
from services.inspection import service, shifts
from services.inspection.repository import image_visible, list_modules
from services.inspection.schemas import InspectionRead, ModuleSummary, ShiftCalendarIO

router = APIRouter(prefix="/api/v1", tags=["inspection"], responses=ERRORS)
Sha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
_CACHE = "private, max-age=86400, immutable"  # content-addressed: the bytes never change


@router.get("/modules")
def get_modules(
    request: Request,
    session: SessionDep,
    p: AnyPerson,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ModuleSummary]:
    """Modules, newest first (bounded pagination)."""
    rows, total = list_modules(session, offset=offset, limit=min(limit, get_settings(request).page_size_max), line=line_scope(p))
    return Page[ModuleSummary](items=[ModuleSummary.model_validate(m) for m in rows], total=total, offset=offset, limit=limit)


@router.get("/inspections")
def get_inspections(
    session: SessionDep,
    p: AnyPerson,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    verdict: Verdict | None = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> Page[InspectionRead]:
    """Inspections, newest first, filtered by verdict / station / time [since, until)."""
    return service.list_inspections(
        session=session,
        offset=offset,
        limit=limit,
        verdict=verdict,
        station=station,
        since=since,
        until=until,
        line=line_scope(p),
    )


def _visible(session: SessionDep, sha256: str, p: AnyPerson) -> None:
    line = line_scope(p)
    if line is not None and not image_visible(session, sha256, line=line):
        raise NotFound(N_("image %(sha)s not found"), sha=sha256)  # another line's image: not disclosed


@router.get("/images/{sha256}", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def get_image(sha256: Sha, request: Request, session: SessionDep, p: AnyPerson) -> Response:
    """The stored bytes of a string EL image."""
    _visible(session, sha256, p)
    data, ctype = load_image(session=session, blobs=get_blobs(request), sha256=sha256)
    return Response(content=data, media_type=ctype, headers={"Cache-Control": _CACHE, "Content-Security-Policy": UPLOAD_CSP})


@router.get("/images/{sha256}/preview", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def get_preview(
    sha256: Sha, request: Request, session: SessionDep, p: AnyPerson, w: Annotated[int, Query(description="800 or 1600")] = 1600
) -> Response:
    """A screen-sized JPEG of a stored image (for the rework and history pages)."""
    _visible(session, sha256, p)
    stored_image(session, sha256)
    data = preview_jpeg(blobs=get_blobs(request), sha256=sha256, width=w)
    return Response(
        content=data, media_type="image/jpeg", headers={"Cache-Control": _CACHE, "Content-Security-Policy": UPLOAD_CSP}
    )


@router.get("/shifts")
def get_shifts(request: Request, session: SessionDep, p: Engineer) -> ShiftCalendarIO:
    """The plant's shift calendar (results get their shift key at ingest)."""
    return shifts.calendar_io(session, get_settings(request).plant_timezone)


@router.put("/shifts")
def put_shifts(body: ShiftCalendarIO, session: SessionDep, p: Admin) -> ShiftCalendarIO:
    """Replace the shift calendar (must cover 24 h exactly once); applies to results ingested from now on."""
    return shifts.set_calendar(session=session, calendar=body, actor=p.username)
