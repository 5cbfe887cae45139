"""Training data: cell crops cut by the real segmentation from synthetic strings, ELPV cells,
and a factory's own labelled images (folder / CSV / Pascal VOC / YOLO)."""

from __future__ import annotations

import csv
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.acquisition.decode import decode, to_unit_float
from edge.segmentation.grid import SegmentationError, segment
from edge.training.classes import CLASSES, OK
from edge.training.synthetic import RECIPES, generate_string

CELL = 160  # model input side (default); thin cracks stay 1-2 px wide at this size
ELPV_TEST_EVERY = 5  # cells whose load-order index % 5 == 0 are the reserved ELPV test split
ELPV_CALIB_EVERY = 10  # of the rest, index % 10 == 1 calibrates the operating points (never trained on)
SOURCES = {0: "synthetic", 1: "elpv", 2: "factory", 3: "pasted"}  # pasted: a rendered defect on a real cell


def set_cell_size(side: int) -> None:
    """Cut training / evaluation cells at side x side (a model's input size) from here on."""
    global CELL
    if not 32 <= side <= 512:
        raise ValueError(f"cell side {side} outside 32..512")
    CELL = side


@dataclass
class CellSet:
    """Cells as uint8 (N, CELL, CELL), class index (or -1 = binary only) and p(defect) target."""

    x: np.ndarray
    y: np.ndarray
    p_def: np.ndarray
    source: np.ndarray  # see SOURCES: 0 synthetic, 1 elpv, 2 factory, 3 pasted
    group: np.ndarray | None = None  # image index of each cell (per-image metrics)
    refused: int = 0  # images segmentation refused (they would be ERROR results)
    kind: np.ndarray | None = None  # per-cell sub-population for per-source figures (e.g. mono / poly)

    def __len__(self) -> int:
        return len(self.y)

    def digest(self) -> str:
        """Content hash: the model card records which data trained it."""
        h = hashlib.sha256()
        for a in (self.x, self.y, self.p_def):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    @staticmethod
    def concat(parts: list[CellSet]) -> CellSet:
        """Join several sets."""
        x, y, p_def, source = (np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "y", "p_def", "source"))
        return CellSet(x, y, p_def, source)

    def subset(self, idx: np.ndarray) -> CellSet:
        """The cells at idx."""
        return CellSet(
            self.x[idx],
            self.y[idx],
            self.p_def[idx],
            self.source[idx],
            None if self.group is None else self.group[idx],
            kind=None if self.kind is None else self.kind[idx],
        )


def to_cell_u8(pixels: np.ndarray) -> np.ndarray:
    """uint8 or float [0,1] crop of any size -> uint8 (CELL, CELL), as the edge's preprocess resizes it."""
    cell = cv2.resize(pixels, (CELL, CELL), interpolation=cv2.INTER_AREA)
    if cell.dtype == np.uint8:
        return cell
    return (cell * 255 + 0.5).clip(0, 255).astype(np.uint8)


def _string_cells(args: tuple[int, str, float, float]) -> tuple[np.ndarray, np.ndarray, str]:
    seed, recipe, defect_rate, mp = args
    img, truth = generate_string(seed, recipe=recipe, defect_rate=defect_rate, megapixels=mp)
    rows, cols, aspect = RECIPES[recipe]
    kind = f"{recipe}/{truth.bit_depth}-bit"
    try:
        seg = segment(to_unit_float(img), rows, cols, cell_aspect=aspect, layout="framed")
    except SegmentationError:
        return np.zeros((0, CELL, CELL), np.uint8), np.zeros(0, np.int64), kind
    xs = np.stack([to_cell_u8(c.pixels) for c in seg.cells])
    ys = np.array([CLASSES.index(t.cls) for t in truth.cells], dtype=np.int64)
    return xs, ys, kind


def synthetic_cells(seeds: range, *, defect_rate: float = 0.5, megapixels: float = 1.2, workers: int = 2) -> CellSet:
    """Cells of synthetic strings (all recipes in turn), cut by the production segmentation."""
    recipes = list(RECIPES)
    jobs = [(s, recipes[s % len(recipes)], defect_rate, megapixels) for s in seeds]
    xs, ys, gs, ks = [], [], [], []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for k, (x, y, kind) in enumerate(pool.map(_string_cells, jobs, chunksize=4)):
            xs.append(x)
            ys.append(y)
            gs.append(np.full(len(y), k, np.int64))
            ks.append(np.full(len(y), kind, dtype="<U24"))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    refused = sum(1 for y_ in ys if len(y_) == 0)
    src = np.zeros(len(y), np.int8)
    return CellSet(x, y, (y != 0).astype(np.float32), src, np.concatenate(gs), refused, np.concatenate(ks))


def elpv_split(split: str, n: int) -> np.ndarray:
    """Boolean mask of an ELPV split by load-order index: test (% 5 == 0, never trained or tuned on),
    calib (% 10 == 1, sets the operating points), fit (the rest: trains), train (fit + calib)."""
    idx = np.arange(n)
    test = idx % ELPV_TEST_EVERY == 0
    calib = idx % ELPV_CALIB_EVERY == 1
    masks = {"test": test, "calib": calib, "fit": ~test & ~calib, "train": ~test}
    if split not in masks:
        raise ValueError(f"unknown ELPV split {split!r} ({', '.join(masks)})")
    return np.asarray(masks[split], dtype=bool)


def elpv_raw(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 (N, 300, 300), p(defect), 'mono' | 'poly') of one ELPV split (CC BY-NC-SA 4.0)."""
    from elpv_dataset.utils import load_dataset

    images, proba, types = load_dataset()
    sel = elpv_split(split, len(proba))
    return images[sel], np.asarray(proba[sel], dtype=np.float32), np.asarray(types[sel])


def elpv_cells(split: str) -> CellSet:
    """ELPV cells of one split (see elpv_split); kind is 'mono' or 'poly'.

    Labels are defect probabilities 0, 1/3, 2/3, 1; there is no defect type, so y = -1 and only
    p(defect) is learnt from them.
    """
    images, p, types = elpv_raw(split)
    x = np.stack([to_cell_u8(to_unit_float(im)) for im in images])
    return CellSet(x, np.full(len(p), -1, np.int64), p, np.ones(len(p), np.int8), np.arange(len(p)), kind=types)


def pasted_defects(split: str, *, per_cell: float = 0.7, seed: int = 11) -> CellSet:
    """Typed defects rendered onto real functional ELPV cells of a split (source 3).

    The real texture, busbars, grain and noise stay; only the defect is synthetic, so the
    classifier learns defect types without learning "synthetic-looking" as "defective".
    """
    from edge.training.classes import DEFECT_CLASSES
    from edge.training.synthetic import visible_defect

    images, p, _types = elpv_raw(split)
    ok_idx = np.nonzero(p == 0)[0]
    rng = np.random.default_rng(seed)
    pick = rng.choice(ok_idx, size=int(len(ok_idx) * per_cell), replace=False)
    xs, ys = [], []
    for i in pick:
        cell = to_unit_float(images[i])
        h, w = cell.shape
        cls = str(rng.choice(DEFECT_CLASSES))
        mult, _box = visible_defect(rng, cell, cls, busbars=int(rng.choice([2, 3, 4])))
        xs.append(to_cell_u8(np.clip(cell * mult, 0, 1)))
        ys.append(CLASSES.index(cls))
    y = np.array(ys, dtype=np.int64)
    return CellSet(np.stack(xs), y, np.ones(len(y), np.float32), np.full(len(y), 3, np.int8), np.arange(len(y)))


# ---- a factory's own labelled data -------------------------------------------------------------


def _grid_cells(path: Path, grid: tuple[int, int] | None) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    img = to_unit_float(decode(path.read_bytes()).pixels)
    if grid is None:  # a single cell image
        h, w = img.shape
        return [((0, 0, w, h), img)]
    seg = segment(img, grid[0], grid[1])
    return [(c.box, c.pixels) for c in seg.cells]


def _label_cells(
    cells: list[tuple[tuple[int, int, int, int], np.ndarray]], boxes: list[tuple[str, tuple[float, float, float, float]]]
) -> Iterator[tuple[np.ndarray, str]]:
    """Each labelled box goes to the one cell it overlaps most (a chip at a cell edge must not
    label the neighbour too); a cell without a box is ok; with several, the largest box wins."""
    best: dict[int, tuple[float, str]] = {}
    for cls, (x0, y0, x1, y1) in boxes:
        area = max(1e-6, (x1 - x0) * (y1 - y0))
        overlaps = []
        for (bx, by, bw, bh), _pix in cells:
            ix = max(0.0, min(bx + bw, x1) - max(bx, x0))
            iy = max(0.0, min(by + bh, y1) - max(by, y0))
            overlaps.append(ix * iy / area)
        k = int(np.argmax(overlaps))
        if overlaps[k] >= 0.1 and area > best.get(k, (0.0, OK))[0]:
            best[k] = (area, cls)
    for k, (_box, pix) in enumerate(cells):
        yield pix, best.get(k, (0.0, OK))[1]


def factory_cells(root: Path, fmt: str, *, grid: tuple[int, int] | None = None) -> CellSet:
    """Load labelled images: folder (root/<class>/*.png), csv (path,label), voc (xml), yolo (txt + classes.txt)."""
    root = Path(root)
    items: list[tuple[np.ndarray, str]] = []
    groups: list[int] = []

    def add(cells: object) -> None:
        image = groups[-1] + 1 if groups else 0
        for pix, cls in cells:  # type: ignore[attr-defined]
            items.append((pix, cls))
            groups.append(image)

    if fmt == "folder":
        for cdir in sorted(p for p in root.iterdir() if p.is_dir()):
            for f in sorted(cdir.iterdir()):
                if f.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}:
                    add([(pix, cdir.name) for _b, pix in _grid_cells(f, grid)])
    elif fmt == "csv":
        manifest = root / "labels.csv" if root.is_dir() else root
        base = manifest.parent
        with open(manifest, newline="") as fh:
            for row in csv.DictReader(fh):
                add([(pix, row["label"]) for _b, pix in _grid_cells(base / row["path"], grid)])
    elif fmt == "voc":
        for xml in sorted(root.glob("*.xml")):
            tree = ET.parse(xml).getroot()
            img_path = root / tree.findtext("filename", default=xml.with_suffix(".png").name)
            boxes = []
            for obj in tree.iter("object"):
                bb = obj.find("bndbox")
                if bb is None:
                    raise ValueError(f"{xml}: an <object> without <bndbox>")
                boxes.append(
                    (
                        obj.findtext("name", default=OK),
                        tuple(float(bb.findtext(k, default="0")) for k in ("xmin", "ymin", "xmax", "ymax")),
                    )
                )
            add(list(_label_cells(_grid_cells(img_path, grid), boxes)))  # type: ignore[arg-type]
    elif fmt == "yolo":
        names = (root / "classes.txt").read_text().split()
        for txt in sorted(root.glob("*.txt")):
            if txt.name == "classes.txt":
                continue
            img_path = next(p for p in (txt.with_suffix(s) for s in (".png", ".jpg", ".tif", ".bmp")) if p.exists())
            h, w = decode(img_path.read_bytes()).pixels.shape
            boxes = []
            for line in txt.read_text().splitlines():
                if not line.strip():
                    continue
                k, cx, cy, bw, bh = line.split()
                cxf, cyf, bwf, bhf = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
                boxes.append((names[int(k)], (cxf - bwf / 2, cyf - bhf / 2, cxf + bwf / 2, cyf + bhf / 2)))
            add(list(_label_cells(_grid_cells(img_path, grid), boxes)))  # type: ignore[arg-type]
    else:
        raise ValueError(f"unknown format {fmt!r} (folder, csv, voc, yolo)")
    unknown = sorted({c for _, c in items if c not in CLASSES})
    if unknown:
        raise ValueError(f"labels not in the class list: {unknown}")
    if not items:
        raise ValueError(f"no labelled cells found in {root}")
    x = np.stack([to_cell_u8(p) for p, _ in items])
    y = np.array([CLASSES.index(c) for _, c in items], dtype=np.int64)
    return CellSet(x, y, (y != 0).astype(np.float32), np.full(len(y), 2, np.int8), np.array(groups, np.int64))
