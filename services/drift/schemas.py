"""Drift watch figures: per station, model version and plant day, with p-chart limits and alerts."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class DriftMetric(StrEnum):
    """What drift watch follows."""

    REVIEW_LOAD = "review_load"  # REVIEW cells / cells the model judged
    FALSE_CALL_RATE = "false_call_rate"  # false-call dispositions / dispositions of the day's NG cells
    ESCAPE_RATE = "escape_rate"  # defects a later EL stage found in passed cells / (confirmed defects + those)
    PSI = "psi"  # score distribution shift against the model's validation scores


class DayPoint(BaseModel):
    """One day of one proportion: count of n, and the day's 3-sigma limits around the series' centre."""

    day: str
    count: int
    n: int
    value: float | None  # None: nothing to count that day
    ucl: float | None
    lcl: float | None
    out_of_control: bool


class ControlChart(BaseModel):
    """A p-chart over the series' days; the centre is the proportion pooled over them."""

    metric: DriftMetric
    center: float | None
    points: list[DayPoint]


class PsiPoint(BaseModel):
    """One day's score distribution against the validation scores (None: too few cells or no reference)."""

    day: str
    cells: int
    psi: float | None


class DriftSeries(BaseModel):
    """One station running one model version, day by day."""

    station: str
    model_version: str
    days: list[str]
    cells: list[int]
    review_load: ControlChart
    false_call_rate: ControlChart
    escape_rate: ControlChart
    psi: list[PsiPoint]
    has_reference: bool  # whether the model's metadata holds its validation score distribution


class DriftAlert(BaseModel):
    """A day a figure left its control limit (or the score distribution shifted)."""

    day: str
    station: str
    model_version: str
    metric: DriftMetric
    value: float
    limit: float


class DriftWatch(BaseModel):
    """Drift watch over plant days first_day..last_day."""

    first_day: str
    last_day: str
    station: str | None
    series: list[DriftSeries]
    alerts: list[DriftAlert]  # newest first
