"""Production context in (MES / ERP rows and CSV) and the containment query out."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import ERRORS, Engineer, Investigator, MesDep, SessionDep, get_settings, in_transaction
from api.i18n import N_
from api.limits import takes_upload
from services.core.errors import InvalidInput, PayloadTooLarge
from services.core.time import utcnow
from services.imports import mes
from services.imports.rows import import_rows, parse_csv
from services.rework.schemas import HoldSource
from services.rework.service import place_hold
from services.traceability import containment as cq
from services.traceability.schemas import (
    ContainmentQuery,
    ContainmentResult,
    HoldResult,
    ImportBody,
    ImportKind,
    ImportRejected,
    ImportReport,
)

router = APIRouter(prefix="/api/v1", tags=["traceability"], responses=ERRORS)
IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ImportRejected, "description": "rows rejected (error import_rejected, with the report); nothing imported"}
}
CSV_BODY = {"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}}


class ImportFailed(Exception):
    """Rows were rejected: the transaction rolls back and the caller gets the report (see _report)."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.errors)} problem(s)")
        self.report = report


def _report(report: ImportReport) -> Any:
    # A rejected import is an answer, not a crash: the report lists every bad row, and nothing was written.
    if report.ok:
        return report
    detail = f"{len(report.errors)} problem(s) in {report.rows} rows; nothing imported"
    body = ImportRejected(error="import_rejected", detail=detail, report=report)
    return JSONResponse(body.model_dump(mode="json"), status_code=400)


@router.post("/imports/{kind}", responses=IMPORT_RESPONSES)
def import_json(
    kind: Annotated[ImportKind, Path()], body: ImportBody, request: Request, session: SessionDep, p: Engineer
) -> ImportReport:
    """MES / ERP rows as JSON (products, work_orders, module_builds, shipments): all or nothing.

    A shipment of a module the gate blocks for shipping is refused, or imported and flagged
    (ELTRACE_SHIP_UNRELEASED); flagged rows come back in `flagged`.
    """
    report = import_rows(session=session, kind=kind, rows=body.rows, actor=p.username, **_gate_settings(request))
    return _report(report)  # type: ignore[no-any-return]


def _gate_settings(request: Request) -> dict[str, Any]:
    s = get_settings(request)
    return {"ship_unreleased": s.ship_unreleased, "gate_checks": s.gate_checks}


@router.post("/imports/{kind}/csv", responses=IMPORT_RESPONSES, openapi_extra=CSV_BODY)
@takes_upload("max_csv_bytes")
async def import_csv(kind: Annotated[ImportKind, Path()], request: Request, p: Engineer) -> ImportReport:
    """The same as a CSV file (UTF-8, header row); module_builds take one `<kind>_lot` column per material."""
    cap = get_settings(request).max_csv_bytes
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > cap:
            raise PayloadTooLarge(N_("CSV over %(cap)s bytes: split the file"), cap=cap)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(N_("the CSV is not UTF-8 text (byte %(at)s)"), at=exc.start) from exc

    def run(session: Any) -> ImportReport:
        rows, errors = parse_csv(kind, text)
        report = import_rows(
            session=session, kind=kind, rows=rows, actor=p.username, pre_errors=errors, **_gate_settings(request)
        )
        if not report.ok:
            raise ImportFailed(report)  # rolls the transaction back
        return report

    try:
        return await in_transaction(request, run)
    except ImportFailed as exc:
        return _report(exc.report)  # type: ignore[no-any-return]


@router.post("/mes/{kind}", responses=IMPORT_RESPONSES)
async def mes_post(kind: Annotated[ImportKind, Path()], body: mes.MesPost, request: Request, client: MesDep) -> mes.MesAnswer:
    """One MES record as it happens (a module build, a material lot, a work order, ...), by MES client keys.

    The row is what the batch import takes, under the same rules. The MES's own `mes_id` makes it
    idempotent: resending a message gets its first answer again (`replayed`), and the same id with
    other content is a 409.
    """
    settings = _gate_settings(request)

    def run(session: Any) -> mes.MesAnswer:
        return mes.post(session=session, source=client.code, kind=kind, message=body, **settings)

    try:
        return await in_transaction(request, run)
    except mes.MesRejected as exc:  # rolled back, the message id with it
        return _report(exc.report)  # type: ignore[no-any-return]


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


@router.post("/containment/hold")
def containment_hold(
    query: ContainmentQuery,
    reason: Annotated[str, Body(embed=True, min_length=3, max_length=500)],
    session: SessionDep,
    p: Engineer,
) -> HoldResult:
    """Put every module of a containment result on hold (those still in the factory)."""
    ids = cq.module_ids_of(session, query)
    held = place_hold(session=session, module_ids=ids, source=HoldSource.CONTAINMENT, reason=reason, actor=p.username)
    return HoldResult(matched=len(ids), held=len(held), not_held=len(ids) - len(held))
