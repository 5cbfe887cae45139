"""A gallery of every synthetic class next to real ELPV cells, so anyone can judge realism."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.acquisition.decode import to_unit_float
from edge.segmentation.grid import segment
from edge.training.classes import CLASSES, LABELS
from edge.training.dataset import to_cell_u8
from edge.training.synthetic import RECIPES, generate_string

TILE = 120


def _synthetic_examples(per_class: int, seed0: int = 424_242) -> dict[str, list[np.ndarray]]:
    found: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    seed = seed0
    while any(len(v) < per_class for v in found.values()) and seed < seed0 + 400:
        recipe = "full-1x12" if seed % 2 else "half-2x12"
        rows, cols, aspect = RECIPES[recipe]
        img, truth = generate_string(seed, recipe=recipe, defect_rate=0.6, megapixels=2.0)
        seg = segment(to_unit_float(img), rows, cols, cell_aspect=aspect)
        for cell, t in zip(seg.cells, truth.cells, strict=True):
            if len(found[t.cls]) < per_class:
                found[t.cls].append(cv2.resize(to_cell_u8(cell.pixels), (TILE, TILE)))
        seed += 1
    return found


def _label(text: str, width: int) -> np.ndarray:
    band = np.full((TILE, width), 255, np.uint8)
    for i, line in enumerate(text.split("/")):
        cv2.putText(band, line.strip(), (6, 40 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55, 0, 1, cv2.LINE_AA)
    return band


def render_gallery(out: Path, per_class: int = 5, elpv_per_row: int = 5) -> Path:
    """Write a PNG: one row per class (synthetic), then ELPV functional and defective rows."""
    rows = []
    examples = _synthetic_examples(per_class)
    label_w = 310
    for cls in CLASSES:
        tiles = examples[cls] + [np.full((TILE, TILE), 255, np.uint8)] * (per_class - len(examples[cls]))
        rows.append(
            np.hstack(
                [_label(f"synthetic: {LABELS[cls]}", label_w), *[np.pad(t, 2, constant_values=255)[2:-2, 2:-2] for t in tiles]]
            )
        )
    try:
        from elpv_dataset.utils import load_dataset

        images, proba, _types = load_dataset()
        for title, mask in (("ELPV real: functional (p=0)", proba == 0), ("ELPV real: defective (p=1)", proba == 1)):
            idx = np.nonzero(mask)[0][:: max(1, int(mask.sum()) // (elpv_per_row * 7))][:elpv_per_row]
            tiles = [cv2.resize(to_cell_u8(to_unit_float(images[i])), (TILE, TILE)) for i in idx]
            tiles += [np.full((TILE, TILE), 255, np.uint8)] * (per_class - len(tiles))
            rows.append(np.hstack([_label(title, label_w), *tiles[:per_class]]))
    except ImportError:
        pass
    grid = np.vstack([np.pad(r, ((2, 2), (0, 0)), constant_values=255) for r in rows])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), grid)
    return out
