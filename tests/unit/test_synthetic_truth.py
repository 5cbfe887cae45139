"""The synthetic generator's ground truth: every cell labelled defective shows its defect."""

from __future__ import annotations

import numpy as np
import pytest

from edge.training.synthetic import MIN_AREA, defect_mult, visible_area, visible_defect


def _mono_cell(h: int = 240, w: int = 240, busbars: int = 12) -> np.ndarray:
    """A bright cell with many dark busbars and dark chamfers: where thin defects hide."""
    cell = np.full((h, w), 0.8, np.float32)
    for i in range(busbars):
        y = int((i + 0.5) * h / busbars)
        cell[y - 2 : y + 3, :] *= 0.45
    c = min(h, w) // 14
    for ys, xs in (
        (slice(0, c), slice(0, c)),
        (slice(0, c), slice(w - c, w)),
        (slice(h - c, h), slice(0, c)),
        (slice(h - c, h), slice(w - c, w)),
    ):
        cell[ys, xs] = 0.04
    return cell


@pytest.mark.parametrize("cls", ["crack", "scratch", "edge_chip", "dark_spot", "star_crack"])
def test_every_drawn_defect_is_visible(cls: str) -> None:
    cell = _mono_cell()
    rng = np.random.default_rng(5)
    need = MIN_AREA * min(cell.shape) ** 2
    for _ in range(150):
        mult, _box = visible_defect(rng, cell, cls, busbars=12)
        assert visible_area(cell, mult) >= need


def test_the_visibility_rule_rejects_something() -> None:
    """Negative control: unchecked draws of thin defects do hide on busbars and off the cell."""
    cell = _mono_cell()
    rng = np.random.default_rng(5)
    need = MIN_AREA * min(cell.shape) ** 2
    hidden = sum(visible_area(cell, defect_mult(rng, 240, 240, "scratch", busbars=12)[0]) < need for _ in range(300))
    assert hidden > 0


def test_a_cell_where_no_defect_can_show_ends_after_its_tries() -> None:
    cell = np.zeros((100, 100), np.float32)
    mult, _ = visible_defect(np.random.default_rng(0), cell, "crack", busbars=3, tries=3)
    assert visible_area(cell, mult) == 0


def test_a_line_look_changes_the_cells_and_nothing_else() -> None:
    """A look is the only difference: same seed, same truth and layout; the cells carry the rings."""
    import numpy as np

    from edge.training.synthetic import generate_string

    plain, t1 = generate_string(5, recipe="full-1x12", megapixels=0.3, bit_depth=8)
    again, _ = generate_string(5, recipe="full-1x12", megapixels=0.3, bit_depth=8)
    ringed, t2 = generate_string(5, recipe="full-1x12", megapixels=0.3, bit_depth=8, look="striation")
    assert np.array_equal(plain, again) and t1 == t2
    x, y, w, h = t1.cells[0].box
    diff = np.abs(plain[y : y + h, x : x + w].astype(int) - ringed[y : y + h, x : x + w].astype(int))
    assert diff.mean() > 2  # the rings darken the cell by several grey levels on average
    with pytest.raises(ValueError, match="unknown look"):
        generate_string(5, look="hexagons")
