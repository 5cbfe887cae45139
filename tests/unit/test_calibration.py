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
