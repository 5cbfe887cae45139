"""Quality figure pages: the dashboard and complaint PPM (server-side SVG charts, no JavaScript)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import charts
from api.deps import Engineer, Instant, SessionDep, Staff, get_settings
from api.metrics.routes import window
from api.render import render
from services.core.errors import DomainError
from services.core.time import utcnow
from services.metrics import ppm as metrics
from services.metrics.dashboard import MISS_TARGET, dashboard
from services.metrics.schemas import PPM_GROUPS, PpmGroup

router = APIRouter(include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: SessionDep,
    user: Engineer,
    since: Instant | None = None,
    until: Instant | None = None,
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
        ),
        "station": charts.bar_chart(
            "Rework rate per station", [(r.key, r.rework_rate or 0.0) for r in d.by_station], percent=True, cls="station"
        ),
        "shift": charts.bar_chart(
            "Rework rate per shift", [(r.key, r.rework_rate or 0.0) for r in d.by_shift[-21:]], percent=True, cls="shift"
        ),
        "pareto": charts.bar_chart(
            "Defect Pareto (NG cells at string EL)", [(c, float(n)) for c, n in d.pareto], cumulative=True, cls="pareto"
        ),
        "loops": charts.bar_chart(
            "Rework loops per module", [(f"{k} loops", float(v)) for k, v in d.loops_per_module.items()], cls="loops"
        ),
        "repair": charts.bar_chart("Median hours from NG to repair", [(k, v) for k, v in d.repair_by_day], cls="repair"),
        "false_calls": charts.line_chart(
            "Model false-call rate (operator dispositions)",
            field_days,
            {"false calls": [r.false_call_rate for r in d.field]},
            percent=True,
            cls="falsecalls",
        ),
        "escapes": charts.line_chart(
            "Escapes: defects later EL found in cells string EL passed",
            field_days,
            {"escape rate": [r.escape_rate for r in d.field]},
            percent=True,
            lines=[charts.Line(MISS_TARGET, "target 0.3 % missed")],
            cls="escapes",
        ),
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
        ],
    }
    return render(
        request,
        "dashboard.html",
        user=user,
        d=d,
        figs=figs,
        station=station or "",
        since=since.date().isoformat(),
        until=until.date().isoformat(),
    )


@router.get("/ppm", response_class=HTMLResponse)
def ppm_page(
    request: Request,
    session: SessionDep,
    user: Staff,
    first: str | None = None,
    last: str | None = None,
    group_by: str | None = None,
    version: int | None = None,
) -> Response:
    """PPM trend with the 8 ppm target, complaints per month, response and closure against their targets."""
    last = last if last and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", last) else metrics.month_of(utcnow())
    first = first if first and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", first) else metrics.shift_month(last, -11)
    group = PpmGroup(group_by) if group_by in PPM_GROUPS else None
    error = None
    try:
        report = metrics.ppm(session=session, first_month=first, last_month=last, group_by=group, version=version)
        overall = report if group is None else metrics.ppm(session=session, first_month=first, last_month=last, version=version)
    except DomainError as exc:
        error, report, overall = exc.detail, None, None
    due = get_settings(request).eight_d_due_hours
    stats = metrics.response_stats(
        session=session, first_month=first, last_month=last, first_response_h=due["D3"], closure_h=due["D8"]
    )
    figs: dict[str, Any] = {}
    if overall is not None:
        months = [r.month for r in overall.rows]
        figs["trend"] = charts.line_chart(
            f"Complaint PPM (definition v{overall.definition_version})",
            months,
            {"monthly": [r.ppm for r in overall.rows], "rolling 12 months": [r.rolling12_ppm for r in overall.rows]},
            lines=[charts.Line(metrics.TARGET_PPM, "target 8 ppm")],
            cls="ppm",
        )
    figs["counts"] = charts.bar_chart(
        "Complaints received per month", [(m, float(n)) for m, n in stats.complaints_by_month.items()], cls="counts"
    )
    return render(
        request,
        "ppm.html",
        user=user,
        report=report,
        overall=overall,
        stats=stats,
        figs=figs,
        first=first,
        last=last,
        group_by=group or "",
        error=error,
    )
