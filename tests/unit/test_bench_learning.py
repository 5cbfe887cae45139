"""The learning bench's arithmetic: figures against the generator's truth, and the issue's target."""

from __future__ import annotations

import pytest

from cli.benchlearning import Judged, figures, verdict


def _line() -> list[Judged]:
    truth = {(1, c): ("crack" if c in (2, 7) else "ok") for c in range(1, 13)}
    live = {k: "OK" for k in truth} | {(1, 2): "NG", (1, 7): "OK", (1, 3): "REVIEW", (1, 4): "REVIEW", (1, 5): "NG"}
    shadow = {k: "OK" for k in truth} | {(1, 2): "NG", (1, 7): "REVIEW", (1, 3): "REVIEW"}
    return [Judged(truth=truth, live=live, shadow=shadow)] * 2


def test_figures_count_misses_false_calls_and_review_load_per_model() -> None:
    a, b = figures(_line(), "live"), figures(_line(), "shadow")
    assert (a["cells"], a["defects"], a["ok_cells"]) == (24, 4, 20)
    assert (a["misses"], a["false_calls"], a["auto_ng_false_calls"], a["review"]) == (2, 6, 2, 4)
    assert a["false_call_rate"] == pytest.approx(6 / 20) and a["review_load"] == pytest.approx(4 / 24)
    assert (b["misses"], b["false_calls"], b["auto_ng_false_calls"], b["review"]) == (0, 2, 0, 4)
    assert b["miss_upper95"] < a["miss_upper95"]


def test_the_target_needs_both_halved_and_no_more_misses() -> None:
    a, b = figures(_line(), "live"), figures(_line(), "shadow")
    got = verdict(a, b)
    assert got["false_call_ratio"] == pytest.approx(2 / 6) and got["review_load_ratio"] == pytest.approx(1.0)
    assert got["misses_not_worse"] and not got["met"]  # review load unchanged: not met
    halved = dict(b, review=1, review_load=1 / 24)
    assert verdict(a, halved)["met"]
    assert not verdict(a, dict(halved, misses=3))["met"]  # misses worse: not met, however few the false calls
