"""Calibration and metrics, checked against numbers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edge.training.evaluate import calibrate, clopper_pearson_upper, operating_point, roc_auc


def test_clopper_pearson_matches_known_values() -> None:
    # Zero events in n trials: the one-sided 95% bound is 1 - 0.05**(1/n) (~3/n, the rule of three).
    assert clopper_pearson_upper(0, 1000) == pytest.approx(1 - 0.05 ** (1 / 1000), rel=1e-9)
    assert clopper_pearson_upper(0, 2000) < 0.0015
    assert clopper_pearson_upper(3, 1000) == pytest.approx(0.00775, abs=5e-5)


def test_operating_point_counts() -> None:
    p = np.array([0.1, 0.2, 0.9, 0.95, 0.4, 0.6])
    d = np.array([0, 0, 1, 1, 1, 0], bool)
    op = operating_point(p, d, 0.5)
    assert (op.misses, op.defects, op.false_calls, op.ok_cells) == (1, 3, 1, 3)


def test_calibration_proves_the_target_when_the_data_allow_it() -> None:
    rng = np.random.default_rng(0)
    defects = rng.uniform(0.6, 1.0, 3000)
    oks = rng.uniform(0.0, 0.5, 3000)
    p = np.concatenate([defects, oks])
    d = np.concatenate([np.ones(3000, bool), np.zeros(3000, bool)])
    op, rule = calibrate(p, d, 0.003)
    assert op.miss_upper95 <= 0.003 and "upper bound" in rule
    assert clopper_pearson_upper(op.misses + 1, 3000) > 0.003  # the highest threshold that still proves it
    assert op.false_calls == 0


def test_calibration_says_when_it_cannot_prove_the_target() -> None:
    p = np.array([0.9] * 100 + [0.1] * 100)
    d = np.array([True] * 100 + [False] * 100)
    op, rule = calibrate(p, d, 0.003)  # 100 defects can never show 0.3% at 95%
    assert "point estimate" in rule and op.misses == 0 and op.threshold == 0.9


def test_auc() -> None:
    assert roc_auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5


def test_triage_points_meet_the_miss_bound_pooled_and_the_false_ng_limit_of_every_source() -> None:
    from edge.training.evaluate import calibrate_triage, triage_figures

    rng = np.random.default_rng(3)
    # Source "a": easy OK cells; source "b": OK cells with a high tail (like real cells), which must set the NG point.
    ok_a, ok_b = rng.uniform(0.0, 0.2, 2000), np.concatenate([rng.uniform(0.0, 0.3, 950), rng.uniform(0.6, 0.9, 50)])
    defects = rng.uniform(0.05, 1.0, 3000)
    p = np.concatenate([ok_a, ok_b, defects])
    is_def = np.concatenate([np.zeros(3000, bool), np.ones(3000, bool)])
    source = np.array(["a"] * 2000 + ["b"] * 1000 + ["a"] * 3000)
    points, detail = calibrate_triage(p, is_def, source, target_miss=0.003, target_false_ng=0.01)
    f = triage_figures(p, is_def, points)
    assert f["miss_upper95"] <= 0.003 and points.ok_threshold <= points.ng_threshold
    for s, ok in (("a", ok_a), ("b", ok_b)):
        assert np.mean(ok >= points.ng_threshold) <= 0.01, s
    assert detail["ng_threshold_per_source"]["b"] > detail["ng_threshold_per_source"]["a"]  # the strict source decides
    assert points.ng_threshold == detail["ng_threshold_per_source"]["b"]
    # The bands partition the cells: every cell is exactly one of OK / REVIEW / NG.
    assert f["auto_ng"] + f["review_cells"] + int(np.sum(p < points.ok_threshold)) == len(p)
