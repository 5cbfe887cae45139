"""Score bins and PSI (services.contracts.scores): what drift watch reads a day's scores against."""

from __future__ import annotations

import pytest

from services.contracts.scores import BINS, PSI_ALERT, PSI_WATCH, SCORE_EDGES, psi, reference_mix, score_bin, shares


def test_bins_cover_zero_to_one_and_edges_belong_to_the_bin_above() -> None:
    assert score_bin(0.0) == 0 and score_bin(1.0) == BINS - 1
    assert [score_bin(e) for e in SCORE_EDGES] == list(range(1, BINS))
    assert score_bin(0.00999) == score_bin(0.003)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    ref = shares([70, 20, 5, 3, 2, 0, 0, 0, 0, 0, 0])
    assert psi(ref, ref) == pytest.approx(0.0)
    small = shares([60, 25, 8, 4, 3, 0, 0, 0, 0, 0, 0])
    moved = shares([5, 20, 70, 3, 2, 0, 0, 0, 0, 0, 0])
    assert 0 < psi(ref, small) < PSI_WATCH < PSI_ALERT < psi(ref, moved)
    assert psi(ref, [0.0] * BINS) > PSI_ALERT  # an empty day against a reference: finite, and a shift


def test_the_reference_mixed_at_the_days_defect_share_keeps_the_defect_rate_out_of_drift() -> None:
    ok = [0.0, 0.0, 0.1, 0.8, 0.1, 0, 0, 0, 0, 0, 0]
    defect = [0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.7]
    line = reference_mix(ok, defect, 0.02)  # a line with 2 % defective cells, scored as in validation
    assert psi(reference_mix(ok, defect, 0.02), line) == pytest.approx(0.0)
    assert psi(reference_mix(ok, defect, 0.5), line) > PSI_ALERT  # the unmixed validation set (half defective) would alarm
    assert reference_mix(ok, defect, 1.7) == defect and sum(reference_mix(ok, defect, 0.3)) == pytest.approx(1.0)
