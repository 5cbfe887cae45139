"""Defect-score bins shared by a model's validation reference (training) and the line's daily roll-up (API).

A model's metadata.json carries `score_reference`: the share of its validation cells, OK and defective
apart, in each bin; the API counts the line's cells in the same bins per station and day and reads
the population stability index (PSI) between the two. The bins follow the scores' log scale because a
good model puts most OK cells below 0.01, where equal-width bins would see one bin.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

# Upper edges of the bins of p(defect); the last bin ends at 1.0 inclusive.
SCORE_EDGES: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 0.7, 0.9)
BINS = len(SCORE_EDGES) + 1
PSI_WATCH = 0.10  # the usual reading of PSI: below 0.1 stable, 0.1 to 0.25 a shift to watch, above 0.25 a shift
PSI_ALERT = 0.25
_FLOOR = 1e-4  # an empty bin on either side counts as this share, so PSI stays finite


def score_bin(p_defect: float) -> int:
    """The bin (0 .. BINS-1) of a p(defect) score."""
    return bisect_right(SCORE_EDGES, p_defect)


def shares(counts: Sequence[float]) -> list[float]:
    """Counts per bin as shares of their total (all zero when there are none)."""
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


def reference_mix(ok: Sequence[float], defect: Sequence[float], defect_share: float) -> list[float]:
    """The validation distribution at a line's defect share: OK and defective cells mixed in that proportion.

    Validation sets hold far more defects than a line does; mixing the two reference histograms at the
    day's share keeps a change in the defect rate (which the NG p-chart watches) out of the drift figure.
    """
    w = min(1.0, max(0.0, defect_share))
    return [(1 - w) * a + w * b for a, b in zip(ok, defect, strict=True)]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index sum((a - e) ln(a / e)) of two share vectors over the same bins."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _FLOOR), max(a, _FLOOR)
        total += (a - e) * math.log(a / e)
    return total
