"""Seeded synthetic string EL images with per-cell ground truth for the 12 defect types.

Rendering: a flat string canvas (cells with texture, fingers, ribbons, defects, dark gaps),
then a random perspective/rotation into the image, vignetting, uneven gain, blur and noise,
stored as 8- or 16-bit grayscale. All randomness comes from one numpy Generator per image.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.training.classes import DEFECT_CLASSES, OK

GENERATOR_VERSION = 3  # bump when a seed renders differently: caches and model cards name it

RECIPES: dict[str, tuple[int, int, float]] = {
    # name: (rows, cols, cell aspect w/h)
    "full-1x12": (1, 12, 1.0),
    "half-2x12": (2, 12, 2.0),
    "half-2x11": (2, 11, 2.0),
    "half-1x24": (1, 24, 0.5),
}


@dataclass
class CellTruth:
    """Ground truth of one cell; boxes in source-image pixels (x, y, w, h)."""

    row: int
    col: int
    cls: str
    box: list[int]
    defect_box: list[int] | None = None


@dataclass
class StringTruth:
    """Ground truth of one synthetic string image."""

    recipe: str
    rows: int
    cols: int
    bit_depth: int
    width: int
    height: int
    seed: int
    corners: list[list[float]]
    cells: list[CellTruth] = field(default_factory=list)

    def to_json(self) -> str:
        """JSON text for a sidecar file."""
        return json.dumps(asdict(self), indent=1)


def _line(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width: int, value: float) -> None:
    cv2.line(mask, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), value, max(1, width), cv2.LINE_AA)


def _polyline(rng: np.random.Generator, start: np.ndarray, angle: float, length: float, steps: int) -> list[np.ndarray]:
    pts = [start]
    for _ in range(steps):
        angle += rng.normal(0, 0.25)
        pts.append(pts[-1] + length / steps * np.array([np.cos(angle), np.sin(angle)]))
    return pts


def render_cell(
    rng: np.random.Generator, h: int, w: int, cls: str, *, multi: bool, busbars: int
) -> tuple[np.ndarray, list[int] | None]:
    """One cell (h, w) float32 in [0, ~1] and the defect box inside it (x, y, w, h) or None."""
    base = rng.uniform(0.72, 0.9)
    cell: NDArray[Any] = np.full((h, w), base, dtype=np.float32)
    if multi:
        # Multicrystalline grains: blocky low-frequency texture.
        g = rng.uniform(0.8, 1.05, size=(max(2, h // 24), max(2, w // 24))).astype(np.float32)
        cell *= cv2.resize(g, (w, h), interpolation=cv2.INTER_NEAREST)
        cell = cv2.GaussianBlur(cell, (0, 0), 1.2)
    else:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)
        cell *= (1.0 - rng.uniform(0.05, 0.18) * r).astype(np.float32)
    fine = rng.normal(1.0, 0.025, size=(h, w)).astype(np.float32)
    cell *= fine
    # Fingers: thin, faint lines across the ribbons.
    pitch = max(4, w // 70)
    cell[:, ::pitch] *= 0.94
    # Ribbons / busbars along the string direction.
    bw = max(2, h // 90)
    for i in range(busbars):
        y = int((i + 0.5) * h / busbars)
        cell[max(0, y - bw // 2) : y + bw // 2 + 1, :] *= 0.45
    if not multi:  # pseudo-square mono wafers: dark chamfered corners
        c = max(2, min(h, w) // 14)
        for x0, y0, dx, dy in ((0, 0, 1, 1), (w - 1, 0, -1, 1), (0, h - 1, 1, -1), (w - 1, h - 1, -1, -1)):
            tri = np.array([[x0, y0], [x0 + dx * c, y0], [x0, y0 + dy * c]], dtype=np.int32)
            cv2.fillConvexPoly(cell, tri, 0.04)
    if cls == OK:
        return cell, None
    mult, box = visible_defect(rng, cell, cls, busbars=busbars, pitch=pitch)
    return cell * mult, box


def striation_rings(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Concentric striation rings of Czochralski wafers (oxygen precipitates): a benign, line-specific EL pattern."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h / 2 + rng.uniform(-0.05, 0.05) * h, w / 2 + rng.uniform(-0.05, 0.05) * w
    r = np.hypot(yy - cy, xx - cx)
    period = rng.uniform(0.12, 0.2) * min(h, w)
    depth = rng.uniform(0.06, 0.12)
    rings: NDArray[Any] = (1.0 - depth * (0.5 + 0.5 * np.cos(2 * np.pi * r / period))).astype(np.float32)
    return rings


LOOKS = {"striation": striation_rings}  # look name -> per-cell multiplier (rng, h, w)

MIN_CONTRAST = 0.15  # a defect pixel darkens its cell by at least this share of the cell's median level
MIN_AREA = 1 / 1500  # ... over at least this share of the cell side squared (a crack of ~10 % of the side)
EDGE_MARGIN = 0.04  # pixels this close to the cell edge do not count: segmentation may cut them off


def visible_area(cell: np.ndarray, mult: np.ndarray) -> int:
    """Pixels of the cell interior where the defect map darkens the cell visibly."""
    h, w = cell.shape
    drop = cell * (1 - mult)
    vis = drop >= max(MIN_CONTRAST * float(np.median(cell)), 1e-3)
    my, mx = int(h * EDGE_MARGIN), int(w * EDGE_MARGIN)
    return int(vis[my : h - my, mx : w - mx].sum())


def visible_defect(
    rng: np.random.Generator, cell: np.ndarray, cls: str, *, busbars: int, pitch: int | None = None, tries: int = 20
) -> tuple[np.ndarray, list[int]]:
    """A defect map for this cell that an EL inspector could see (redrawn until it is).

    A crack drawn along a busbar, inside a dark chamfer or mostly off the cell is not a defect
    anyone could label from the image; counting it as one made the miss target unprovable and
    pushed the OK threshold below real OK cells.
    """
    h, w = cell.shape
    need = MIN_AREA * min(h, w) ** 2
    for _ in range(tries):
        mult, box = defect_mult(rng, h, w, cls, busbars=busbars, pitch=pitch)
        if visible_area(cell, mult) >= need:
            break
    return mult, box


def defect_mult(
    rng: np.random.Generator, h: int, w: int, cls: str, *, busbars: int, pitch: int | None = None
) -> tuple[np.ndarray, list[int]]:
    """Multiplicative darkening (h, w) float32 in (0, 1] of one defect and its box (x, y, w, h).

    Defects only darken in EL, so the same map renders a synthetic cell or is pasted onto a
    real functional cell (the real texture, busbars and noise stay).
    """
    pitch = pitch or max(4, w // 70)

    mult: NDArray[Any] = np.ones((h, w), dtype=np.float32)
    s = min(h, w)
    if cls == "crack":
        start = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h])
        pts = _polyline(rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.6) * s, 6)
        for a, b in zip(pts, pts[1:], strict=False):
            _line(mult, tuple(a), tuple(b), max(1, s // 120), rng.uniform(0.25, 0.5))
        if rng.random() < 0.3:  # partly inactive area beside the crack
            mult = cv2.erode(mult, np.ones((3, 3), np.uint8))
    elif cls == "star_crack":
        center = np.array([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h])
        for k in range(rng.integers(3, 6)):
            ang = float(k * 2 * np.pi / 5 + rng.normal(0, 0.3))
            pts = _polyline(rng, center, ang, rng.uniform(0.12, 0.3) * s, 4)
            for a, b in zip(pts, pts[1:], strict=False):
                _line(mult, tuple(a), tuple(b), max(1, s // 120), rng.uniform(0.25, 0.45))
    elif cls == "broken_cell":
        # An inactive fragment: a corner region cut off by a line, nearly dark.
        corner = rng.integers(0, 4)
        da, db = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        cx, cy = (0 if corner in (0, 3) else w), (0 if corner in (0, 1) else h)
        tri = np.array([[cx, cy], [abs(cx - da), cy], [cx, abs(cy - db)]], dtype=np.int32)
        cv2.fillConvexPoly(mult, tri, float(rng.uniform(0.08, 0.3)))
    elif cls == "finger_interruption":
        for _ in range(rng.integers(3, 9)):
            x = rng.uniform(0.05, 0.95) * w
            y = rng.uniform(0.05, 0.95) * h
            cv2.rectangle(
                mult,
                (int(x), int(y)),
                (int(x + pitch * rng.uniform(1, 3)), int(y + h / busbars * 0.45)),
                float(rng.uniform(0.45, 0.65)),
                -1,
            )
        mult = cv2.GaussianBlur(mult, (0, 0), 1.5)
    elif cls == "pseudo_soldering":
        i = rng.integers(0, busbars)
        y = (i + 0.5) * h / busbars
        band = h / busbars * rng.uniform(0.35, 0.6)
        yy = np.arange(h, dtype=np.float32)[:, None]
        prof = 1 - rng.uniform(0.45, 0.7) * np.exp(-(((yy - y) / band) ** 2))
        x0 = int(rng.uniform(0, 0.4) * w)
        mult[:, x0:] *= prof.astype(np.float32)
    elif cls == "black_core":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.hypot((xx - w / 2) / (w * rng.uniform(0.18, 0.3)), (yy - h / 2) / (h * rng.uniform(0.18, 0.3)))
        mult *= (1 - rng.uniform(0.45, 0.7) * np.exp(-(r**2))).astype(np.float32)
    elif cls == "dark_spot":
        for _ in range(rng.integers(1, 4)):
            cv2.circle(
                mult,
                (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.9) * h)),
                int(rng.uniform(0.025, 0.06) * s),
                float(rng.uniform(0.15, 0.4)),
                -1,
                cv2.LINE_AA,
            )
        mult = cv2.GaussianBlur(mult, (0, 0), max(1.0, s / 200))
    elif cls == "dark_cell":
        mult *= rng.uniform(0.4, 0.62)
    elif cls == "dead_cell":
        mult *= rng.uniform(0.04, 0.12)
    elif cls == "scratch":
        p0 = np.array([rng.uniform(0, 0.3) * w, rng.uniform(0, 1) * h])
        p1 = np.array([rng.uniform(0.7, 1) * w, rng.uniform(0, 1) * h])
        if rng.random() < 0.5:
            p0, p1 = p0[::-1] * [w / h, h / w], p1[::-1] * [w / h, h / w]
        _line(mult, tuple(p0), tuple(p1), max(1, s // 150), rng.uniform(0.35, 0.55))
    elif cls == "edge_chip":
        side = rng.integers(0, 4)
        t = rng.uniform(0.1, 0.9)
        ex, ey = [(t * w, 0.0), (float(w), t * h), (t * w, float(h)), (0.0, t * h)][side]
        cv2.circle(mult, (int(ex), int(ey)), int(rng.uniform(0.05, 0.1) * s), 0.03, -1, cv2.LINE_AA)
    elif cls == "black_edge":
        depth = rng.uniform(0.07, 0.16)
        ramp = np.clip(np.linspace(0, 1 / depth, h if rng.random() < 0.5 else w), 0, 1)
        ramp = (0.25 + 0.75 * ramp).astype(np.float32)
        if len(ramp) == h:
            mult *= (ramp if rng.random() < 0.5 else ramp[::-1])[:, None]
        else:
            mult *= (ramp if rng.random() < 0.5 else ramp[::-1])[None, :]
    else:
        raise ValueError(f"unknown class {cls}")
    ys, xs = np.nonzero(mult < 0.9)
    box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)] if len(xs) else [0, 0, w, h]
    return mult, box


def generate_string(
    seed: int,
    *,
    recipe: str = "full-1x12",
    cell_px: int | None = None,
    defect_rate: float = 0.15,
    classes: tuple[str, ...] = DEFECT_CLASSES,
    bit_depth: int | None = None,
    megapixels: float = 4.0,
    distort: bool = True,
    place: dict[tuple[int, int], str] | None = None,
    look: str | None = None,
) -> tuple[np.ndarray, StringTruth]:
    """One string image (uint8 or uint16, (H, W)) and its ground truth; `place` puts a class at (row, col).

    `look` gives every cell a line's benign look that the training strings never show (see LOOKS); the same
    seed renders the same string otherwise, so a look is the only difference.
    """
    if look is not None and look not in LOOKS:
        raise ValueError(f"unknown look {look!r}: one of {', '.join(LOOKS)}")
    rng = np.random.default_rng(seed)
    look_rng = np.random.default_rng([seed, 7919])  # its own stream: the string's other draws stay as without a look
    rows, cols, aspect = RECIPES[recipe]
    if cell_px is None:
        # Choose the cell height so that the whole image is about `megapixels`.
        cell_px = int(np.sqrt(megapixels * 1e6 / (rows * cols * aspect * 1.12 * 1.5)))
    ch, cw = cell_px, int(round(cell_px * aspect))
    gap = max(2, int(cw * 0.012))
    sw, sh = cols * cw + (cols - 1) * gap, rows * ch + (rows - 1) * gap
    multi = bool(rng.random() < 0.3)
    busbars = int(rng.choice([5, 9, 12])) if aspect >= 1 else int(rng.choice([3, 5]))
    canvas = np.full((sh, sw), 0.03, dtype=np.float32)
    truth_cells: list[tuple[int, int, str, list[int], list[int] | None]] = []
    for r in range(rows):
        for c in range(cols):
            cls = str(rng.choice(classes)) if rng.random() < defect_rate else OK
            cls = (place or {}).get((r + 1, c + 1), cls)
            cell, dbox = render_cell(rng, ch, cw, cls, multi=multi, busbars=busbars)
            if look is not None:
                cell *= LOOKS[look](look_rng, ch, cw)
            cell *= rng.uniform(0.92, 1.08)  # cell-to-cell efficiency spread
            x0, y0 = c * (cw + gap), r * (ch + gap)
            canvas[y0 : y0 + ch, x0 : x0 + cw] = cell
            gbox = [x0 + dbox[0], y0 + dbox[1], dbox[2], dbox[3]] if dbox else None
            truth_cells.append((r + 1, c + 1, cls, [x0, y0, cw, ch], gbox))

    margin_x, margin_y = int(sw * 0.06), int(sh * 0.25) + 20
    W, H = sw + 2 * margin_x, sh + 2 * margin_y
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float32)
    dst = src + np.array([margin_x, margin_y], dtype=np.float32)
    if distort:
        ang = np.deg2rad(rng.uniform(-1.5, 1.5))
        center = dst.mean(axis=0)
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], dtype=np.float32)
        dst = (dst - center) @ rot.T + center
        dst += rng.uniform(-0.012, 0.012, size=(4, 2)).astype(np.float32) * [sw * 0.3, sh]
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    img: NDArray[Any] = cv2.warpPerspective(canvas, M, (W, H), flags=cv2.INTER_LINEAR, borderValue=0.03)

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
    img *= 1 - rng.uniform(0.05, 0.25) * r2 / 2  # vignetting
    img *= 1 + rng.uniform(-0.12, 0.12) * (xx / W - 0.5)  # uneven gain along the string
    if distort:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.1))
    img += np.asarray(rng.normal(0, rng.uniform(0.008, 0.025), size=img.shape), dtype=np.float32)
    img = np.clip(img, 0, 1)
    depth = bit_depth or int(rng.choice([8, 16]))
    out = (img * 255 + 0.5).astype(np.uint8) if depth == 8 else (img * 4095 * 16 + 0.5).astype(np.uint16)

    def warp_box(b: list[int]) -> list[int]:
        q = np.array([[[b[0], b[1]], [b[0] + b[2], b[1]], [b[0] + b[2], b[1] + b[3]], [b[0], b[1] + b[3]]]], dtype=np.float32)
        p = cv2.perspectiveTransform(q, M)[0]
        x0, y0 = np.floor(p.min(axis=0)).astype(int)
        x1, y1 = np.ceil(p.max(axis=0)).astype(int)
        return [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]

    truth = StringTruth(
        recipe=recipe,
        rows=rows,
        cols=cols,
        bit_depth=depth,
        width=W,
        height=H,
        seed=seed,
        corners=dst.tolist(),
        cells=[CellTruth(r, c, cls, warp_box(b), warp_box(d) if d else None) for r, c, cls, b, d in truth_cells],
    )
    return out, truth


def write_string(
    path: Path, img: np.ndarray, truth: StringTruth, *, barcode: str | None = None, string_position: int = 1
) -> None:
    """Write the image (PNG) and a sidecar JSON (truth + barcode) next to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), img)
    if not ok:
        raise OSError(f"could not write {path}")
    meta = json.loads(truth.to_json())
    if barcode:
        meta["barcode"] = barcode
        meta["string_position"] = string_position
    path.with_suffix(".json").write_text(json.dumps(meta))
