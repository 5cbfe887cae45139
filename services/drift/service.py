"""Drift watch: per station, model version and plant day the review load, false-call rate, escape rate and PSI.

Each proportion is a p-chart over the days shown: the centre is the proportion pooled over them and a
day is out of control above its 3-sigma limit (a model that suddenly calls fewer cells doubtful is no
alarm). The score distribution is read against the model's validation scores (metadata.json's
`score_reference`), mixed at the day's NG share so a change in the defect rate does not read as drift.
Figures are grouped by the day the string was imaged, so a label that arrives later moves that day.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.contracts.scores import BINS, PSI_ALERT, psi, reference_mix, shares
from services.core.errors import InvalidInput
from services.core.i18n import N_
from services.core.spc import p_limits
from services.drift import repository as repo
from services.drift.schemas import ControlChart, DayPoint, DriftAlert, DriftMetric, DriftSeries, DriftWatch, PsiPoint
from services.inspection import repository as inspection_repo
from services.inspection.firstpass import plant_day
from services.registry import repository as registry_repo

MIN_PSI_CELLS = 200  # fewer cells in a day make PSI noise, not a reading
MAX_DAYS = 92
_Key = tuple[str, str]  # station, model version
_CONFIRMED = ("repaired", "not_repairable")


def _chart(metric: DriftMetric, days: Sequence[str], counts: Sequence[int], ns: Sequence[int]) -> ControlChart:
    total_n = sum(ns)
    center = sum(counts) / total_n if total_n else None
    points = []
    for day, k, n in zip(days, counts, ns, strict=True):
        if not n or center is None:
            points.append(DayPoint(day=day, count=k, n=n, value=None, ucl=None, lcl=None, out_of_control=False))
            continue
        ucl, lcl = p_limits(center, n)
        value = k / n
        points.append(DayPoint(day=day, count=k, n=n, value=value, ucl=ucl, lcl=lcl, out_of_control=value > ucl))
    return ControlChart(metric=metric, center=center, points=points)


def _reference(session: Session, version: str) -> tuple[list[float], list[float]] | None:
    row = registry_repo.by_version(session, version)
    ref = (row.meta or {}).get("score_reference") if row else None
    if not ref or len(ref.get("ok", [])) != BINS or len(ref.get("defect", [])) != BINS:
        return None  # not registered, registered before references existed, or binned otherwise
    return [float(x) for x in ref["ok"]], [float(x) for x in ref["defect"]]


def watch(
    *, session: Session, first_day: date, last_day: date, station: str | None = None, plant_timezone: str = "UTC"
) -> DriftWatch:
    """Drift watch over plant days first_day..last_day (both included), every station or one."""
    if last_day < first_day:
        raise InvalidInput(N_("the last day must not be before the first"))
    if (last_day - first_day).days >= MAX_DAYS:
        raise InvalidInput(N_("drift watch covers at most %(days)s days"), days=MAX_DAYS)
    zone = ZoneInfo(plant_timezone)
    since = datetime.combine(first_day, time(), zone).astimezone(UTC)
    until = datetime.combine(last_day + timedelta(days=1), time(), zone).astimezone(UTC)
    decided: dict[_Key, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))  # day -> decision -> cells
    bins: dict[_Key, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * BINS))
    for day, st, version, decision, b, n in inspection_repo.score_days(
        session, first_day.isoformat(), last_day.isoformat(), station
    ):
        key = (st, version)
        decided[key][day][decision] += n
        bins[key][day][b] += n
    disp: dict[_Key, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for at, st, version, kind in repo.dispositions(session, since, until, station):
        disp[(st, version)][plant_day(at, zone)][kind] += 1
    esc: dict[_Key, Counter[str]] = defaultdict(Counter)
    for at, st, version in repo.escapes(session, since, until, station):
        esc[(st, version)][plant_day(at, zone)] += 1
    series, alerts = [], []
    cells = {key: {d: sum(c.values()) for d, c in by_day.items()} for key, by_day in decided.items()}
    for key in sorted(set(cells) | set(disp) | set(esc)):
        judged = cells.get(key, {})
        days = sorted(set(judged) | set(disp[key]) | set(esc[key]))
        review = _chart(
            DriftMetric.REVIEW_LOAD, days, [decided[key][d]["REVIEW"] for d in days], [judged.get(d, 0) for d in days]
        )
        false_calls = _chart(
            DriftMetric.FALSE_CALL_RATE,
            days,
            [disp[key][d]["false_call"] for d in days],
            [sum(disp[key][d].values()) for d in days],
        )
        escape = _chart(
            DriftMetric.ESCAPE_RATE,
            days,
            [esc[key][d] for d in days],
            [esc[key][d] + sum(disp[key][d][k] for k in _CONFIRMED) for d in days],
        )
        ref = _reference(session, key[1])
        psis = []
        for d in days:
            n = judged.get(d, 0)
            value = None
            if ref is not None and n >= MIN_PSI_CELLS:
                expected = reference_mix(*ref, defect_share=decided[key][d]["NG"] / n)
                value = round(psi(expected, shares(bins[key][d])), 4)
            psis.append(PsiPoint(day=d, cells=n, psi=value))
        series.append(
            DriftSeries(
                station=key[0],
                model_version=key[1],
                days=days,
                cells=[judged.get(d, 0) for d in days],
                review_load=review,
                false_call_rate=false_calls,
                escape_rate=escape,
                psi=psis,
                has_reference=ref is not None,
            )
        )
        for chart in (review, false_calls, escape):
            alerts += [
                DriftAlert(day=p.day, station=key[0], model_version=key[1], metric=chart.metric, value=p.value, limit=p.ucl)
                for p in chart.points
                if p.out_of_control and p.value is not None and p.ucl is not None
            ]
        alerts += [
            DriftAlert(day=p.day, station=key[0], model_version=key[1], metric=DriftMetric.PSI, value=p.psi, limit=PSI_ALERT)
            for p in psis
            if p.psi is not None and p.psi >= PSI_ALERT
        ]
    alerts.sort(key=lambda a: (a.day, a.station, a.metric), reverse=True)
    return DriftWatch(
        first_day=first_day.isoformat(), last_day=last_day.isoformat(), station=station, series=series, alerts=alerts
    )
