"""Segmentation of synthetic strings against their ground truth, and refusal of what it cannot split."""

from __future__ import annotations

import numpy as np
import pytest

from edge.acquisition.decode import to_unit_float
from edge.segmentation.grid import SegmentationError, segment
from edge.training.synthetic import RECIPES, generate_string


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_cell_is_found_within_a_few_pixels(recipe: str) -> None:
    rows, cols, aspect = RECIPES[recipe]
    worst = 0
    for seed in range(3):
        img, truth = generate_string(5000 + seed, recipe=recipe, defect_rate=0.3, megapixels=2.0)
        seg = segment(to_unit_float(img), rows, cols, cell_aspect=aspect)
        assert len(seg.cells) == rows * cols
        for cell, t in zip(seg.cells, truth.cells, strict=True):
            assert (cell.row, cell.col) == (t.row, t.col)
            worst = max(worst, int(np.abs(np.subtract(cell.box, t.box)).max()))
    assert worst <= 5, f"worst box error {worst}px"


def test_wrong_grid_is_refused_not_guessed() -> None:
    img, _truth = generate_string(77, recipe="full-1x12", defect_rate=0.0, megapixels=1.5)
    with pytest.raises(SegmentationError):
        segment(to_unit_float(img), 1, 10, cell_aspect=1.0)
    with pytest.raises(SegmentationError):
        segment(to_unit_float(img), 2, 12, cell_aspect=2.0)


def test_blank_image_is_refused() -> None:
    with pytest.raises(SegmentationError, match="contrast"):
        segment(np.full((500, 3000), 0.5, np.float32), 1, 12)
