"""Production context in (MES / ERP rows and CSV), containment query out, dashboard figures, shift calendar."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ERRORS, SessionDep, require
from services.audit.service import record
from services.core.db import transaction
from services.core.errors import InvalidInput, PayloadTooLarge
from services.core.time import utcnow
from services.inspection.shifts import Shift, load_calendar, replace_calendar
from services.rework.service import place_hold
from services.security.service import Principal, Role
from services.traceability import containment as cq
from services.traceability.dashboard import Dashboard, dashboard
from services.traceability.imports import import_rows, parse_csv
from services.traceability.schemas import ContainmentQuery, ContainmentResult, ImportKind, ImportReport

router = APIRouter(prefix="/api/v1", tags=["traceability"], responses=ERRORS)
Engineer = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER))]
Investigator = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER, Role.CUSTOMER_SERVICE))]
Admin = Annotated[Principal, Depends(require())]
MAX_CSV_BYTES = 32 * 1024 * 1024
IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ImportReport, "description": "rows rejected; nothing imported"}
}


class ImportRejected(BaseModel):
    """The usual error shape, plus the report listing every bad row."""

    error: str
    detail: str
    report: ImportReport | None = None  # absent when the file itself is unusable (not UTF-8, no header, ...)


IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ImportRejected, "description": "rows rejected (error import_rejected, with the report); nothing imported"}
}


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(max_length=200_000)


def _report(report: ImportReport) -> Any:
    # A rejected import is an answer, not a crash: the report lists every bad row, and nothing was written.
    if report.ok:
        return report
    body = ImportRejected(error="import_rejected", detail=f"{len(report.errors)} problem(s) in {report.rows} rows; nothing imported",
                          report=report)  # fmt: skip
    return JSONResponse(body.model_dump(mode="json"), status_code=400)


@router.post("/imports/{kind}", responses=IMPORT_RESPONSES)
def import_json(kind: Annotated[ImportKind, Path()], body: ImportBody, session: SessionDep, p: Engineer) -> ImportReport:
    """MES / ERP rows as JSON (products, work_orders, module_builds, shipments): all or nothing."""
    return _report(import_rows(session=session, kind=kind, rows=body.rows, actor=p.username))  # type: ignore[no-any-return]


@router.post("/imports/{kind}/csv", responses=IMPORT_RESPONSES, openapi_extra={
    "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}})  # fmt: skip
async def import_csv(kind: Annotated[ImportKind, Path()], request: Request, p: Engineer) -> ImportReport:
    """The same as a CSV file (UTF-8, header row); module_builds take one `<kind>_lot` column per material."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_CSV_BYTES:
            raise PayloadTooLarge(f"CSV over {MAX_CSV_BYTES} bytes: split the file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the CSV is not UTF-8 text (byte {exc.start})") from exc
    return await run_in_threadpool(_import_csv_sync, request, kind, text, p.username)  # type: ignore[no-any-return]


def _import_csv_sync(request: Request, kind: ImportKind, text: str, actor: str) -> Any:
    rows, errors = parse_csv(kind, text)
    with transaction(request.app.state.sessions) as session:
        report = import_rows(session=session, kind=kind, rows=rows, actor=actor, pre_errors=errors)
        if not report.ok:
            session.rollback()
    return _report(report)


@router.post("/containment")
def containment(
    query: ContainmentQuery,
    session: SessionDep,
    p: Investigator,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> ContainmentResult:
    """Modules sharing work order / lots / station + shift with the suspects (or matching the criteria), and where they are."""
    return cq.containment(session=session, query=query, offset=offset, limit=limit)


@router.post("/containment/csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def containment_csv(query: ContainmentQuery, session: SessionDep, p: Investigator) -> Response:
    """Every matching module as CSV."""
    return csv_response(cq.containment(session=session, query=query, limit=None))


def csv_response(result: ContainmentResult) -> Response:
    """A containment result as a CSV download."""
    buf = io.StringIO()
    w = csv.writer(buf)
    for line in cq.csv_lines(result):
        w.writerow(line)
    name = f"containment-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(buf.getvalue(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


class HoldResult(BaseModel):
    matched: int
    held: int
    not_held: int = Field(description="already on hold, scrapped or shipped (shipped ones need a customer notification)")


@router.post("/containment/hold")
def containment_hold(
    query: ContainmentQuery,
    reason: Annotated[str, Body(embed=True, min_length=3, max_length=500)],
    session: SessionDep,
    p: Engineer,
) -> HoldResult:
    """Put every module of a containment result on hold (those still in the factory)."""
    ids = cq.module_ids_of(session, query)
    held = place_hold(session=session, module_ids=ids, source="containment", reason=reason, actor=p.username)
    return HoldResult(matched=len(ids), held=len(held), not_held=len(ids) - len(held))


@router.get("/dashboard")
def get_dashboard(
    session: SessionDep,
    p: Engineer,
    since: datetime | None = None,
    until: datetime | None = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
) -> Dashboard:
    """Yield, rework rate, Pareto, loops, repair time, false calls and escapes, p-charts (default: last 14 days)."""
    since, until = window(since, until)
    return dashboard(session=session, since=since, until=until, station=station or None)


def window(since: datetime | None, until: datetime | None, days: int = 14) -> tuple[datetime, datetime]:
    """The dashboard window (since, until), aware; naive input (a date picker) is taken as UTC. Default: the last `days`."""

    def aware(t: datetime) -> datetime:
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    end = aware(until) if until else utcnow()
    return (aware(since) if since else end - timedelta(days=days)), end


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9]{1,10}$")
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class ShiftCalendarIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    utc_offset_minutes: int = Field(ge=-840, le=840)
    shifts: list[ShiftIn] = Field(min_length=1, max_length=6)


def _hhmm(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def _minutes(t: str) -> int:
    h, m = t.split(":")
    return int(h) * 60 + int(m)


@router.get("/shifts")
def get_shifts(session: SessionDep, p: Engineer) -> ShiftCalendarIO:
    """The plant's shift calendar (results get their shift key at ingest)."""
    cal = load_calendar(session)
    return ShiftCalendarIO(utc_offset_minutes=cal.utc_offset_minutes,
                           shifts=[ShiftIn(name=s.name, start=_hhmm(s.start_minute), end=_hhmm(s.end_minute)) for s in cal.shifts])  # fmt: skip


@router.put("/shifts")
def put_shifts(body: ShiftCalendarIO, session: SessionDep, p: Admin) -> ShiftCalendarIO:
    """Replace the shift calendar (must cover 24 h exactly once); applies to results ingested from now on."""
    before = get_shifts(session, p).model_dump()
    replace_calendar(session=session, shifts=[Shift(s.name, _minutes(s.start), _minutes(s.end)) for s in body.shifts],
                     utc_offset_minutes=body.utc_offset_minutes)  # fmt: skip
    record(session=session, actor=p.username, action="shifts.replace", entity="shift_calendar", entity_id="plant",
           before=before, after=body.model_dump())  # fmt: skip
    return body
