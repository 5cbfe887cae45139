"""Quality figure pages: the dashboard and complaint PPM (server-side SVG charts, no JavaScript)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api import charts, plant
from api.deps import Engineer, SessionDep, Staff, get_settings
from api.i18n import gettext as _
from api.render import render
from api.words import word
from services.contracts.scores import PSI_ALERT, PSI_WATCH
from services.core.errors import DomainError
from services.core.time import utcnow
from services.drift.schemas import ControlChart, DriftSeries
from services.drift.service import watch
from services.metrics import ppm as metrics
from services.metrics.dashboard import MISS_TARGET, REWORK_TARGET, dashboard
from services.metrics.schemas import PPM_GROUPS, PpmGroup

router = APIRouter(include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: SessionDep,
    user: Engineer,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Quality dashboard: first-pass yield, rework rate, Pareto, loops, repair time, false calls, escapes, p-charts.

    `since` and `until` are plant-calendar days, both included (the last 14 days, today too, by default).
    """
    error = None
    last_day = plant.today()
    first_day = last_day - timedelta(days=13)
    try:
        last_day = date.fromisoformat(until) if until else last_day
        first_day = date.fromisoformat(since) if since else min(first_day, last_day)
    except ValueError:
        error = _("Dates are days like 2026-11-25.")
    if first_day > last_day:
        error = _("The first day (%(first)s) is after the last day (%(last)s).") % {"first": first_day, "last": last_day}
        first_day = last_day
    start, end = plant.day_start_utc(first_day), plant.day_start_utc(last_day + timedelta(days=1))
    d = dashboard(session=session, since=start, until=end, station=station or None, plant_timezone=plant.zone().key)
    days = [r.key for r in d.by_day]
    field_days = [r.day for r in d.field]
    figs = {
        "fpy": charts.line_chart(
            _("First-pass yield and rework rate per day"),
            days,
            {_("first-pass yield"): [r.fpy for r in d.by_day], _("rework rate"): [r.rework_rate for r in d.by_day]},
            percent=True,
            lines=[charts.Line(REWORK_TARGET, _("rework target < 5 %%") % {})],
            cls="fpy",
        ),
        "station": charts.bar_chart(
            _("Rework rate per station"),
            [(r.key, r.rework_rate or 0.0) for r in d.by_station],
            percent=True,
            lines=[charts.Line(REWORK_TARGET, _("target < 5 %%") % {})],
            cls="station",
        ),
        "shift": charts.bar_chart(
            _("Rework rate per shift"), [(r.key, r.rework_rate or 0.0) for r in d.by_shift[-21:]], percent=True, cls="shift"
        ),
        "pareto": charts.bar_chart(
            _("Defect Pareto (NG cells at string EL)"),
            [(word(c, "defect"), float(n)) for c, n in d.pareto],
            cumulative=True,
            cls="pareto",
        ),
        "loops": charts.bar_chart(
            _("Rework loops per module"),
            [(_("%(n)s loops") % {"n": k}, float(v)) for k, v in d.loops_per_module.items()],
            cls="loops",
        ),
        "repair": charts.bar_chart(_("Median hours from NG to repair"), [(k, v) for k, v in d.repair_by_day], cls="repair"),
        "false_calls": charts.line_chart(
            _("Model false-call rate (operator dispositions)"),
            field_days,
            {_("false calls"): [r.false_call_rate for r in d.field]},
            percent=True,
            cls="falsecalls",
        ),
        "escapes": charts.line_chart(
            _("Escapes: defects later EL found in cells string EL passed"),
            field_days,
            {_("escape rate"): [r.escape_rate for r in d.field]},
            percent=True,
            lines=[charts.Line(MISS_TARGET, _("target ≤ 0.3 %% missed") % {})],
            cls="escapes",
        ),
        "p": [
            charts.p_chart(
                _("p-chart NG rate, station %(station)s") % {"station": pc.station},
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
    drift_first = max(first_day, last_day - timedelta(days=DRIFT_DAYS - 1))
    drift = watch(
        session=session, first_day=drift_first, last_day=last_day, station=station or None, plant_timezone=plant.zone().key
    )
    return render(
        request,
        "dashboard.html",
        user=user,
        d=d,
        figs=figs,
        drift=drift,
        drift_figs=[_drift_charts(s) for s in drift.series],
        drift_alerts={(a.station, a.model_version) for a in drift.alerts},
        psi_watch=PSI_WATCH,
        psi_alert=PSI_ALERT,
        station=station or "",
        rework_target=REWORK_TARGET,
        since=first_day.isoformat(),
        until=last_day.isoformat(),
        error=error,
    )


DRIFT_DAYS = 28  # the dashboard shows drift over the last 28 days of its window (the API takes up to 92)


def _drift_chart(title: str, chart: ControlChart) -> Markup:
    pts = [p for p in chart.points if p.value is not None and p.ucl is not None and p.lcl is not None]
    return charts.p_chart(
        title,
        [p.day for p in pts],
        [p.value or 0.0 for p in pts],
        [p.ucl or 0.0 for p in pts],
        [p.lcl or 0.0 for p in pts],
        chart.center or 0.0,
        [p.out_of_control for p in pts],
    )


def _drift_charts(s: DriftSeries) -> list[Markup]:
    """One station's model, day by day: three p-charts and the PSI line against its watch and alert levels."""
    return [
        _drift_chart(_("Review load (REVIEW cells / cells)"), s.review_load),
        _drift_chart(_("False-call rate (false calls / dispositions)"), s.false_call_rate),
        _drift_chart(_("Escape rate (escapes / real defects)"), s.escape_rate),
        charts.line_chart(
            _("Score shift against validation (PSI)"),
            [p.day for p in s.psi],
            {"PSI": [p.psi for p in s.psi]},
            lines=[
                charts.Line(PSI_WATCH, _("watch %(v)s") % {"v": PSI_WATCH}, color="#d9822b"),
                charts.Line(PSI_ALERT, _("shift %(v)s") % {"v": PSI_ALERT}),
            ],
            cls="psi",
        ),
    ]


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
            _("Complaint PPM (definition v%(v)s)") % {"v": overall.definition_version},
            months,
            {_("monthly"): [r.ppm for r in overall.rows], _("rolling 12 months"): [r.rolling12_ppm for r in overall.rows]},
            lines=[charts.Line(metrics.TARGET_PPM, _("target %(ppm)s ppm") % {"ppm": metrics.TARGET_PPM})],
            cls="ppm",
        )
    figs["counts"] = charts.bar_chart(
        _("Complaints received per month"), [(m, float(n)) for m, n in stats.complaints_by_month.items()], cls="counts"
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
