"""The dashboard's arithmetic on known counts: first-pass yield, ERROR images, p-chart limits both ways."""

from __future__ import annotations

import math

import pytest

from services.metrics.dashboard import _p_charts, _rates

# (day, station, shift, verdict, strings): the first-pass counts the dashboard query returns.


def test_error_images_are_not_first_pass_passes() -> None:
    """An unjudged image went to manual inspection: it is neither a pass nor a rework (FPY counts OK only)."""
    (row,) = _rates([("d1", "S1", "A", "OK", 8), ("d1", "S1", "A", "NG", 1), ("d1", "S1", "A", "ERROR", 1)], 0)
    assert (row.inspected, row.first_pass_ok, row.ng, row.error) == (10, 8, 1, 1)
    assert row.fpy == pytest.approx(0.8) and row.rework_rate == pytest.approx(0.1)


def test_p_chart_limits_are_three_sigma_and_flag_both_sides() -> None:
    """p_bar 0.2 on 400 strings a day: sigma 0.02, limits 0.14 .. 0.26.

    A day at 0.25 (2.5 sigma) is in control; 0.27 is above the upper limit; 0.10 below the lower one.
    """
    days = {"d1": 80, "d2": 80, "d3": 100, "d4": 108, "d5": 40, "d6": 72}  # NG strings of 400
    counts = []
    for day, ng in days.items():
        counts += [(day, "S1", "A", "NG", ng), (day, "S1", "A", "OK", 400 - ng)]
    counts.append(("d1", "S1", "A", "ERROR", 50))  # unjudged images: not in the chart at all
    (pc,) = _p_charts(counts)
    assert pc.p_bar == pytest.approx(480 / 2400)
    by_day = {p.day: p for p in pc.points}
    sigma = math.sqrt(0.2 * 0.8 / 400)
    assert by_day["d1"].n == 400 and by_day["d1"].ucl == pytest.approx(0.2 + 3 * sigma)
    assert by_day["d1"].lcl == pytest.approx(0.2 - 3 * sigma)
    flags = {d: p.out_of_control for d, p in by_day.items()}
    assert flags == {"d1": False, "d2": False, "d3": False, "d4": True, "d5": True, "d6": False}


def test_a_point_exactly_on_a_control_limit_is_in_control() -> None:
    """p_bar 0.5 on 100 strings a day: limits exactly 0.35 and 0.65 (exact in binary floating point too)."""
    counts = [("d1", "S1", "A", "NG", 65), ("d1", "S1", "A", "OK", 35), ("d2", "S1", "A", "NG", 35), ("d2", "S1", "A", "OK", 65)]
    (pc,) = _p_charts(counts)
    assert [(p.p, p.ucl, p.lcl, p.out_of_control) for p in pc.points] == [(0.65, 0.65, 0.35, False), (0.35, 0.65, 0.35, False)]
