"""A factory-style labelled set for site-adaptation drills: real ELPV cells tiled into full-frame row
images with Pascal VOC boxes, as a labelling tool exports a line's own images.

ELPV has no defect types, so a defective cell's box (the whole cell: where the defect is inside it
is not labelled) is named `crack`, the commonest ELPV defect; cells labelled 1/3 ("probably OK",
ambiguous) are left out. Real dark gaps of a few pixels separate the cells.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.training.dataset import elpv_raw

PARTS = ("adapt", "calib", "test")


def make_site_set(out: Path, *, split: str = "test", cols: int = 6, seed: int = 5) -> dict[str, int]:
    """Write out/{adapt,calib,test}/rowNNNN.png + .xml (40 / 20 / 40 % of the rows); returns rows per part."""
    images, p, _types = elpv_raw(split)
    keep = np.nonzero(p != np.float32(1 / 3))[0]
    keep = keep[np.abs(p[keep] - 1 / 3) > 0.01]
    rng = np.random.default_rng(seed)
    order = rng.permutation(keep)
    rows = [order[i : i + cols] for i in range(0, len(order) - cols + 1, cols)]
    counts = dict.fromkeys(PARTS, 0)
    for k, members in enumerate(rows):
        part = PARTS[0] if k % 5 < 2 else PARTS[1] if k % 5 == 2 else PARTS[2]
        gap = int(rng.integers(3, 7))
        level = int(rng.integers(15, 60))
        h = 300
        w = cols * 300 + (cols - 1) * gap
        img = np.full((h, w), level, np.uint8)
        objects = []
        for c, idx in enumerate(members):
            x0 = c * (300 + gap)
            img[:, x0 : x0 + 300] = images[idx]
            if p[idx] >= 0.5:
                objects.append((x0 + 4, 4, x0 + 296, 296))
        d = out / part
        d.mkdir(parents=True, exist_ok=True)
        name = f"row{k:04d}"
        cv2.imwrite(str(d / f"{name}.png"), img)
        objs = "".join(
            f"<object><name>crack</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c_}</xmax><ymax>{e}</ymax></bndbox></object>"
            for a, b, c_, e in objects
        )
        (d / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.png</filename><size><width>{w}</width><height>{h}</height></size>{objs}</annotation>"
        )
        counts[part] += 1
    return counts
