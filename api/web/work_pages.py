"""Pages of the traceability loop: rework station, module history, containment, holds, dashboard."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import ANY_PERSON, SessionDep, get_settings, line_scope, require
from api.routers.traceability import csv_response, window
from api.web import charts
from api.web.pages import _render, back_with_error
from services.core.errors import DomainError
from services.rework import service as rework
from services.rework import views
from services.security.service import Principal, Role
from services.traceability import containment as cq
from services.traceability.dashboard import MISS_TARGET, dashboard
from services.traceability.history import module_record
from services.traceability.schemas import ContainmentQuery

router = APIRouter(include_in_schema=False)
ReworkPerson = Annotated[Principal, Depends(require(Role.OPERATOR, Role.QUALITY_ENGINEER))]
Engineer = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER))]
Investigator = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER, Role.CUSTOMER_SERVICE))]
STATION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
KEYS = {"S": ("repaired", "RESOLDER"), "C": ("repaired", "REPLACE_CELL"), "L": ("repaired", "CLEAN"),
        "F": ("false_call", None), "N": ("not_repairable", None)}  # fmt: skip


def _station(value: str | None) -> str:
    return value if value and STATION_RE.match(value) else "REWORK"


@router.get("/rework", response_class=HTMLResponse)
def rework_page(
    request: Request,
    session: SessionDep,
    user: ReworkPerson,
    barcode: Annotated[str | None, Query(max_length=200)] = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The rework station: scan (typed + Enter), see the NG cells on the image, disposition them by key."""
    settings = get_settings(request)
    ctx: dict[str, object] = {"user": user, "station": _station(station), "keys": KEYS, "view": None, "scan_error": None}
    status = 200
    if barcode is not None:
        code = barcode.strip()
        ctx["barcode"] = code
        if not re.fullmatch(settings.barcode_regex, code):
            ctx["scan_error"], status = f"“{code[:64]}” is not a module barcode. Scan the module label again.", 400
        else:
            try:
                ctx["view"] = views.station_view(session=session, barcode=code, loop_limit=settings.rework_loop_limit,
                                                 line=line_scope(user))  # fmt: skip
            except DomainError:
                ctx["scan_error"], status = f"Unknown barcode {code}: no EL result for this module. Nothing was changed.", 404
    ctx["error"] = request.query_params.get("error")
    return _render(request, "rework.html", status=status, **ctx)


@router.post("/rework/dispose")
def rework_dispose(
    request: Request,
    session: SessionDep,
    user: ReworkPerson,
    barcode: Annotated[str, Form(max_length=64)],
    station: Annotated[str, Form(max_length=40)],
    loop_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    defect_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    key: Annotated[str, Form(max_length=1)],
    new_cell_lot: Annotated[str | None, Form(max_length=60)] = None,
) -> Response:
    """One key = one disposition; back to the station view (post / redirect / get)."""
    station = _station(station)
    back = {"barcode": barcode, "station": station}
    if key == "U":
        try:
            rework.undo_last(session=session, loop_id=loop_id, actor=user.username, station=station, line=line_scope(user))
        except DomainError as exc:
            session.rollback()
            back["error"] = exc.detail
    elif key not in KEYS:
        back["error"] = f"unknown key {key}"
    else:
        disposition, code = KEYS[key]
        item = rework.DispositionInput(defect_id, disposition, code, (new_cell_lot or "").strip() or None if code else None)
        try:
            rework.dispose(
                session=session, loop_id=loop_id, item=item, actor=user.username, station=station, line=line_scope(user)
            )
        except DomainError as exc:
            session.rollback()  # nothing of a refused disposition stays
            back["error"] = exc.detail
    return RedirectResponse(f"/rework?{urlencode(back)}", status_code=303)


@router.get("/modules/{barcode}", response_class=HTMLResponse)
def module_page(
    barcode: str, request: Request, session: SessionDep, user: Annotated[Principal, Depends(require(*ANY_PERSON))]
) -> Response:
    """A module's whole life: images with overlays, verdicts, loops, dispositions, context, lots, shipment."""
    try:
        record = module_record(session=session, barcode=barcode[:64], line=line_scope(user))
    except DomainError as exc:
        return _render(request, "module.html", status=exc.status, user=user, record=None, error=exc.detail)
    return _render(request, "module.html", user=user, record=record, error=None)


def _containment_query(params: dict[str, str]) -> ContainmentQuery | None:
    raw: dict[str, object] = {k: v.strip() for k, v in params.items() if v.strip() and k in ContainmentQuery.model_fields}
    if "barcodes" in raw:
        raw["barcodes"] = [b for b in re.split(r"[\s,;]+", str(raw["barcodes"])) if b]
    share = [s for s in ("work_order", "material_lot", "station_shift") if params.get(f"share_{s}")]
    if share or params.get("submitted"):
        raw["share"] = share
    return ContainmentQuery.model_validate(raw) if raw.keys() - {"share"} else None


@router.get("/containment", response_class=HTMLResponse)
def containment_page(request: Request, session: SessionDep, user: Investigator) -> Response:
    """The reverse query: suspects in, the modules that share their context out, with where each is now."""
    params = dict(request.query_params)
    result, error = None, None
    try:
        q = _containment_query(params)
        if q is not None:
            result = cq.containment(session=session, query=q, limit=500)
    except ValidationError as exc:
        error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    except DomainError as exc:
        error = exc.detail
    return _render(request, "containment.html", status=400 if error else 200, user=user, params=params, result=result, error=error,
                   query_string=request.url.query, held=params.get("held"))  # fmt: skip


@router.get("/containment.csv")
def containment_csv_page(request: Request, session: SessionDep, user: Investigator) -> Response:
    """The page's result as CSV."""
    q = _containment_query(dict(request.query_params))
    if q is None:
        return RedirectResponse("/containment", status_code=303)
    return csv_response(cq.containment(session=session, query=q, limit=None))


@router.post("/containment/hold")
def containment_hold_page(
    request: Request,
    session: SessionDep,
    user: Engineer,
    query_string: Annotated[str, Form(max_length=20_000)],
    reason: Annotated[str, Form(min_length=3, max_length=500)],
) -> Response:
    """Hold the whole result set of the query shown on the page."""
    params = dict(parse_qsl(query_string))
    q = _containment_query(params)
    if q is None:
        return RedirectResponse("/containment", status_code=303)
    ids = cq.module_ids_of(session, q)
    held = rework.place_hold(session=session, module_ids=ids, source="containment", reason=reason, actor=user.username)
    params["held"] = f"{len(held)} of {len(ids)} modules put on hold"
    return RedirectResponse(f"/containment?{urlencode(params)}", status_code=303)


@router.get("/holds", response_class=HTMLResponse)
def holds_page(request: Request, session: SessionDep, user: Engineer) -> Response:
    """Held modules waiting for a quality engineer's decision."""
    return _render(
        request, "holds.html", user=user, holds=views.holds(session, open_only=True), error=request.query_params.get("error")
    )


@router.post("/holds/{hold_id}/decision")
def hold_decision_page(
    hold_id: int,
    session: SessionDep,
    user: Engineer,
    decision: Annotated[str, Form(max_length=12)],
    reason: Annotated[str, Form(max_length=500)],
    deviation_no: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """Scrap / downgrade / use as is / release, from the holds page."""
    try:
        rework.decide_hold(session=session, hold_id=hold_id, decision=decision, reason=reason, actor=user.username,
                           deviation_no=deviation_no)  # fmt: skip
    except DomainError as exc:
        session.rollback()
        return back_with_error("/holds", exc.detail)
    return RedirectResponse("/holds", status_code=303)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: SessionDep,
    user: Engineer,
    since: datetime | None = None,
    until: datetime | None = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Quality dashboard: first-pass yield, rework rate, Pareto, loops, repair time, false calls, escapes, p-charts."""
    since, until = window(since, until)
    d = dashboard(session=session, since=since, until=until, station=station or None)
    days = [r.key for r in d.by_day]
    field_days = [r.day for r in d.field]
    figs = {
        "fpy": charts.line_chart(
            "First-pass yield and rework rate per day",
            days,
            {"first-pass yield": [r.fpy for r in d.by_day], "rework rate": [r.rework_rate for r in d.by_day]},
            percent=True,
            cls="fpy",
        ),  # fmt: skip
        "station": charts.bar_chart(
            "Rework rate per station", [(r.key, r.rework_rate or 0.0) for r in d.by_station], percent=True, cls="station"
        ),  # fmt: skip
        "shift": charts.bar_chart(
            "Rework rate per shift", [(r.key, r.rework_rate or 0.0) for r in d.by_shift[-21:]], percent=True, cls="shift"
        ),  # fmt: skip
        "pareto": charts.bar_chart(
            "Defect Pareto (NG cells at string EL)", [(c, float(n)) for c, n in d.pareto], cumulative=True, cls="pareto"
        ),  # fmt: skip
        "loops": charts.bar_chart(
            "Rework loops per module", [(f"{k} loops", float(v)) for k, v in d.loops_per_module.items()], cls="loops"
        ),  # fmt: skip
        "repair": charts.bar_chart("Median hours from NG to repair", [(k, v) for k, v in d.repair_by_day], cls="repair"),
        "false_calls": charts.line_chart(
            "Model false-call rate (operator dispositions)",
            field_days,
            {"false calls": [r.false_call_rate for r in d.field]},
            percent=True,
            cls="falsecalls",
        ),  # fmt: skip
        "escapes": charts.line_chart(
            "Escapes: defects later EL found in cells string EL passed",
            field_days,
            {"escape rate": [r.escape_rate for r in d.field]},
            percent=True,
            lines=[charts.Line(MISS_TARGET, "target 0.3 % missed")],
            cls="escapes",
        ),  # fmt: skip
        "p": [
            charts.p_chart(
                f"p-chart NG rate, station {pc.station}",
                [p.day for p in pc.points],
                [p.p for p in pc.points],
                [p.ucl for p in pc.points],
                [p.lcl for p in pc.points],
                pc.p_bar,
                [p.out_of_control for p in pc.points],
            )
            for pc in d.p_charts
        ],  # fmt: skip
    }
    return _render(request, "dashboard.html", user=user, d=d, figs=figs, station=station or "",
                   since=since.date().isoformat(), until=until.date().isoformat())  # fmt: skip
