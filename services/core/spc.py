"""Statistical process control: the 3-sigma limits of a p-chart."""

from __future__ import annotations

import math


def p_limits(p_bar: float, n: int) -> tuple[float, float]:
    """(UCL, LCL) of a proportion over n items: p_bar +- 3 sqrt(p_bar (1 - p_bar) / n), within [0, 1]."""
    sigma = math.sqrt(p_bar * (1 - p_bar) / n) if n else 0.0
    return min(1.0, p_bar + 3 * sigma), max(0.0, p_bar - 3 * sigma)
