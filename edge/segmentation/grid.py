"""Find the string in an EL image, rectify it and split it into the recipe's cell grid.

Cells are bright and the gaps between them dark; the grid is found from intensity profiles
of the rectified string with the recipe's cell count as a prior. Anything uncertain raises
SegmentationError (-> an ERROR result), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


class SegmentationError(ValueError):
    """The grid could not be found with confidence; the message says why."""


@dataclass(frozen=True)
class CellCrop:
    """One cell: 1-based row/col, its box in source-image pixels, and its rectified pixels."""

    row: int
    col: int
    box: tuple[int, int, int, int]  # x, y, w, h in the source image
    pixels: np.ndarray  # (h, w) rectified, in the input's dtype: uint8 (the edge) or float32 in [0, 1]


@dataclass(frozen=True)
class Segmentation:
    """The rectified string and its cells."""

    cells: list[CellCrop]
    corners: np.ndarray  # (4, 2) float32: tl, tr, br, bl in source pixels
    gap_contrast: float  # median dark-gap depth relative to cell brightness


VERSION = (
    3  # bump when the same image is cut differently: training and evaluation caches name it (2: dark end cells, 3: outlier gaps)
)
WORK_WIDTH = 1024
MIN_STRING_AREA = 0.10  # of the image
MIN_GAP_CONTRAST = 0.12  # one gap counts as seen
MIN_ACCEPT_CONTRAST = 0.3  # median over the gaps of an axis, to accept the grid at all
MAX_AXIS_CONTRAST_GAP = 0.3
MAX_PITCH_DEVIATION = 0.12
MIN_GAP_INLIERS = 0.75  # share of the visible gaps on the fitted grid line for the others to be outliers
FRAMED_DARK_BORDER = 0.85  # share of the image border darker than the string: above it, a framed string
MAX_NOISE_RATIO = 0.2  # median neighbour difference / dynamic range: above it the image is noise, not EL
MAX_MISSING_END_CELLS = 2  # dark cells an outline may have missed at the string's ends (recipe prior)
END_CELL_GLOW = 0.01  # a dead end cell glows this share of the lit cells' level above the background past it
LAYOUTS = ("auto", "framed", "full-frame")


def _order_corners(pts: np.ndarray) -> np.ndarray:
    """Order 4 points tl, tr, br, bl."""
    s = pts.sum(axis=1)
    d = np.diff(pts, axis=1).ravel()
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], dtype=np.float32)


def _find_quad(img: np.ndarray) -> np.ndarray:
    """Corners of the string (tl, tr, br, bl) in the coordinates of `img` (float32 [0,1])."""
    blur = cv2.GaussianBlur(img, (5, 5), 0)
    bg, fg = np.percentile(blur, (10, 90))
    if fg - bg < 0.05:
        raise SegmentationError("no bright string found (image dark, empty or flat)")
    # A low threshold keeps dark (low-efficiency) cells in the string; dead cells inside it are
    # bridged by the convex hull of every sizeable bright component below.
    mask = (blur > bg + 0.15 * (fg - bg)).astype(np.uint8) * 255
    k = max(3, img.shape[1] // 60) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    contours, _h = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_part = 0.002 * img.shape[0] * img.shape[1]
    parts = [c for c in contours if cv2.contourArea(c) >= min_part]
    if not parts:
        raise SegmentationError("no bright string found (image dark or empty)")
    hull = cv2.convexHull(np.vstack(parts))
    filled = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 255)
    contours, _h = cv2.findContours(filled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = contours[0]
    area = cv2.contourArea(c)
    if area < MIN_STRING_AREA * img.shape[0] * img.shape[1]:
        raise SegmentationError(f"string not found: bright region covers {area / img.size:.1%} of the image")
    rect = _order_corners(cv2.boxPoints(cv2.minAreaRect(c)).astype(np.float32))
    pts = c.reshape(-1, 2).astype(np.float32)
    short = min(np.linalg.norm(rect[1] - rect[0]), np.linalg.norm(rect[3] - rect[0]))
    lines = []
    for i in range(4):
        a, b = rect[i], rect[(i + 1) % 4]
        d = b - a
        length = float(np.linalg.norm(d))
        u = d / length
        n = np.array([-u[1], u[0]])
        rel = pts - a
        t = rel @ u
        dist = np.abs(rel @ n)
        # Middle of each side only: chamfered cell corners and chips must not bend the outline.
        sel = pts[(t > 0.1 * length) & (t < 0.9 * length) & (dist < 0.15 * short)]
        if len(sel) < 5:
            lines.append((a, u))
            continue
        vx, vy, x0, y0 = cv2.fitLine(sel, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], dtype=np.float32), np.array([vx, vy], dtype=np.float32)))
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        A = np.array([d1, -d2]).T
        if abs(np.linalg.det(A)) < 1e-6:
            return rect
        t1, _t2 = np.linalg.solve(A, p2 - p1)
        corners.append(p1 + t1 * d1)
    quad = np.array(corners, dtype=np.float32)
    return _order_corners(quad)


def _edge_consensus(pts: np.ndarray, inward: np.ndarray, tol: float = 1.5) -> np.ndarray:
    """Edge points on the outermost well-supported straight line (exhaustive pair RANSAC).

    A defect only darkens, so a dark fragment at the end of the string gives a second, inner
    line of crossings; of the lines with broad support, the outermost is the cell edge.
    """
    i, j = np.triu_indices(len(pts), k=3)
    d = pts[j] - pts[i]
    norm = np.linalg.norm(d, axis=1)
    ok = norm > 1e-3
    i, d, norm = i[ok], d[ok], norm[ok]
    if len(i) == 0:
        return pts  # all points (nearly) coincide: no line to choose, the caller fits what there is
    nrm = np.stack([-d[:, 1], d[:, 0]], axis=1) / norm[:, None]  # (L, 2) unit normals
    dist = np.abs(((pts[None, :, :] - pts[i][:, None, :]) * nrm[:, None, :]).sum(-1))  # (L, m)
    support = (dist <= tol).sum(axis=1)
    cands = np.nonzero(support >= max(4, int(0.6 * support.max())))[0]
    inl = dist[cands] <= tol  # (C, m)
    depth = (inl * (pts @ inward)[None, :]).sum(axis=1) / inl.sum(axis=1)
    return np.asarray(pts[inl[int(np.argmin(depth))]])


def _refine_quad(img: np.ndarray, quad: np.ndarray, samples: int = 48) -> np.ndarray:
    """Sub-pixel outline at full resolution: the coarse quad comes from a downscaled image.

    Along each side, intensity is sampled across the edge at many points; the half-level crossing
    between outside (dark) and inside (cell) is an edge point. Points in gaps and on dark cells
    are dropped; a line is fitted to the outermost consistent set (see _edge_consensus).
    """
    lines = []
    centre = quad.mean(axis=0)
    side_len = [float(np.linalg.norm(quad[(i + 1) % 4] - quad[i])) for i in range(4)]
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        u = (b - a) / side_len[i]
        n = np.array([-u[1], u[0]], dtype=np.float32)
        if np.dot(centre - a, n) < 0:
            n = -n  # n points into the string
        reach = max(6.0, 0.04 * side_len[(i + 1) % 4])
        ts = np.linspace(0.04, 0.96, samples, dtype=np.float32) * side_len[i]
        ss = np.linspace(-reach, reach, int(2 * reach) + 1, dtype=np.float32)
        px = a[0] + ts[:, None] * u[0] + ss[None, :] * n[0]
        py = a[1] + ts[:, None] * u[1] + ss[None, :] * n[1]
        prof = cv2.remap(img, px.astype(np.float32), py.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        prof = prof.astype(np.float32) * np.float32(1 / 255) if prof.dtype == np.uint8 else prof
        q = max(2, len(ss) // 5)
        outside = np.median(prof[:, :q], axis=1)
        inside = np.median(prof[:, -q:], axis=1)
        pts = []
        for k in range(samples):
            lo, hi = outside[k], inside[k]
            if (hi - lo) / max(hi, 1e-3) < 0.3:
                continue  # gap, dark cell or chip: no edge to see here
            level = lo + 0.5 * (hi - lo)
            above = np.nonzero(prof[k] >= level)[0]
            if len(above) == 0 or above[0] == 0:
                continue
            j = int(above[0])
            f0, f1 = prof[k, j - 1], prof[k, j]
            frac = (level - f0) / max(f1 - f0, 1e-6)
            s_edge = ss[j - 1] + frac * (ss[j] - ss[j - 1])
            pts.append((px[k, 0] + (s_edge - ss[0]) * n[0], py[k, 0] + (s_edge - ss[0]) * n[1]))
        if len(pts) < 4:
            lines.append((a, u))
            continue
        arr = _edge_consensus(np.array(pts, dtype=np.float32), n)
        vx, vy, x0, y0 = cv2.fitLine(arr, cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        if abs(float(vx * u[0] + vy * u[1])) < np.cos(np.deg2rad(10)):
            # Implausible angle from few points: keep the coarse direction, move the line.
            lines.append((a + float(np.median((arr - a) @ n)) * n, u))
            continue
        lines.append((np.array([x0, y0], dtype=np.float32), np.array([vx, vy], dtype=np.float32)))
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        A = np.array([d1, -d2], dtype=np.float64).T
        if abs(np.linalg.det(A)) < 1e-9:
            return quad
        t1, _t2 = np.linalg.solve(A, (p2 - p1).astype(np.float64))
        corners.append(p1 + t1 * d1)
    return np.array(corners, dtype=np.float32)


def _intervals(profile: np.ndarray, n: int, *, robust: bool = False) -> tuple[list[tuple[float, float]], float, float]:
    """Cell extents [(start, end)] along one axis, median gap contrast, worst pitch deviation.

    Each gap is searched near where the recipe's uniform pitch puts it; its edges are where the
    profile climbs half-way back to the cell brightness, so boxes hug the cells, not the gaps.
    robust (full-frame images): a dip that the grid line rejects (a dark busbar or crack near
    the expected gap) does not count against the pitch; the line through the others decides.
    """
    length = len(profile)
    pitch = length / n
    k = max(3, int(pitch * 0.006) | 1)
    smooth = np.convolve(profile, np.ones(k, dtype=np.float32) / k, mode="same")
    window = int(pitch * 0.15)
    off = max(2, int(pitch * 0.025))
    # Dip score: how much darker a point is than both sides `off` away. A gap is a narrow dip;
    # the inside of a uniformly dark (dead) cell is not, so the gap is found beside it too.
    padded = np.pad(smooth, off, mode="edge")
    dip = smooth - 0.5 * (padded[:length] + padded[2 * off :])
    contrasts: list[float] = []
    reach = int(pitch * 0.08)
    # Per gap: (left edge, right edge), either None where a dark cell hides it.
    gaps: list[tuple[float | None, float | None, float]] = []
    for i in range(1, n):
        expect = i * pitch
        lo, hi = max(1, int(expect - window)), min(length - 1, int(expect + window))
        if hi <= lo:  # a pitch of a few pixels: search the one sample where the gap must be
            lo, hi = min(max(1, int(expect)), length - 2), min(max(1, int(expect)), length - 2) + 1
        j = lo + int(np.argmin(dip[lo:hi]))
        left = float(np.median(profile[max(0, int(j - pitch * 0.8)) : max(1, int(j - pitch * 0.2))]))
        right = float(np.median(profile[min(int(j + pitch * 0.2), length - 1) : min(int(j + pitch * 0.8), length)]))
        gap = float(smooth[j])
        bright = max(left, right)
        contrast = (bright - gap) / max(bright, 1e-3)
        contrasts.append(contrast)
        if contrast < MIN_GAP_CONTRAST:
            gaps.append((None, None, expect))
            continue
        edges: list[float | None] = []
        for side, step in ((left, -1), (right, 1)):
            if (side - gap) / max(side, 1e-3) < MIN_GAP_CONTRAST:
                edges.append(None)  # dark cell on this side: its edge is not visible
                continue
            level = gap + 0.5 * (side - gap)
            e = j
            while abs(e - j) < reach and 0 < e < length - 1 and smooth[e] < level:
                e += step
            # Sub-pixel: interpolate between the last sample below and the first above the level.
            prev = e - step
            f0, f1 = float(smooth[prev]), float(smooth[e])
            frac = (level - f0) / (f1 - f0) if f1 != f0 else 0.0
            edges.append(prev + step * frac)
        gaps.append((edges[0], edges[1], float(j)))
    # After rectification the pitch is uniform: fit gap centre = a*i + b to the gaps whose two
    # edges are visible and take every cell from that line, so a dark fragment or a black edge
    # beside a gap cannot pull one cell's box.
    clean = [(i + 1, (lo_e + r) / 2, r - lo_e) for i, (lo_e, r, _c) in enumerate(gaps) if lo_e is not None and r is not None]
    if len(clean) >= 3:
        idx = np.array([c[0] for c in clean], dtype=np.float64)
        pos = np.array([c[1] for c in clean], dtype=np.float64)
        # A quadratic term absorbs what is left of perspective after an imperfect outline.
        deg = 2 if len(clean) >= 6 else 1
        keep = np.ones(len(clean), dtype=bool)
        for _ in range(2):
            coef = np.polyfit(idx[keep], pos[keep], deg)
            resid = np.abs(pos - np.polyval(coef, idx))
            new_keep = resid <= max(1.5, 3 * float(np.median(resid[keep])))
            if new_keep.sum() < deg + 2:
                break
            keep = new_keep
        coef = np.polyfit(idx[keep], pos[keep], deg)
        gap_w = float(np.median([c[2] for c, k in zip(clean, keep, strict=True) if k]))
        centres = [float(np.polyval(coef, i)) for i in range(1, n)]
        resid = np.abs(pos - np.polyval(coef, idx))
        # A gap the line rejects (a broken cell or black edge beside it moved its dip) does not count against the
        # pitch when most gaps agree: a wrong recipe puts most of them off the line, and that is still refused.
        resid_max = float(np.max(resid[keep] if robust or keep.mean() >= MIN_GAP_INLIERS else resid))
        spacing = np.diff(np.array([0.0, *centres, float(length)]))
        deviation = max(resid_max / pitch, float(np.max(np.abs(spacing - pitch))) / pitch)
        starts = [0.0] + [c + gap_w / 2 for c in centres]
        ends = [c - gap_w / 2 for c in centres] + [float(length)]
    else:
        # One or two gaps (e.g. the row gap of a 2-row string): take the measured edges.
        widths = [r - lo_e for lo_e, r, _ in gaps if lo_e is not None and r is not None]
        gap_w = float(np.median(widths)) if widths else 0.0
        bounds = []
        for lo_e, r, c in gaps:
            if lo_e is not None and r is not None:
                bounds.append((lo_e, r))
            elif lo_e is not None:
                bounds.append((lo_e, lo_e + gap_w))
            elif r is not None:
                bounds.append((r - gap_w, r))
            else:
                bounds.append((c - gap_w / 2, c + gap_w / 2))
        starts = [0.0] + [r for _, r in bounds]
        ends = [lo_e for lo_e, _ in bounds] + [float(length)]
        mids = np.array([0.0] + [(lo_e + r) / 2 for lo_e, r in bounds] + [float(length)])
        deviation = float(np.max(np.abs(np.diff(mids) - pitch)) / pitch)
    extents = list(zip(starts, ends, strict=True))
    return extents, float(np.median(contrasts)) if contrasts else 1.0, deviation


def _layout_stats(img: np.ndarray, unit: float) -> tuple[float, float]:
    """(share of the border darker than the string, noise ratio) on a subsample of the image."""
    step = max(1, max(img.shape) // 1024)
    x = img[::step, ::step].astype(np.float32) * np.float32(1 / unit)
    h, w = x.shape
    lo, hi = np.percentile(x, (5, 95))
    b = max(2, int(0.03 * min(h, w)))
    border = np.concatenate([x[:b].ravel(), x[-b:].ravel(), x[:, :b].ravel(), x[:, -b:].ravel()])
    dark = float(np.mean(border < lo + 0.15 * (hi - lo)))
    noise = float(np.median(np.abs(np.diff(x, axis=1)))) / max(float(hi - lo), 1e-3)
    return dark, noise


def detect_layout(img: np.ndarray) -> str:
    """'framed' (a string on a dark background, as a tester writes it) or 'full-frame' (the image is the cell grid)."""
    unit = 255.0 if img.dtype == np.uint8 else 1.0
    dark, _noise = _layout_stats(img, unit)
    return "framed" if dark >= FRAMED_DARK_BORDER else "full-frame"


def segment(img: np.ndarray, rows: int, cols: int, *, cell_aspect: float | None = None, layout: str = "auto") -> Segmentation:
    """Split a (H, W) string image into rows x cols cells: uint8 (fast path) or float32 in [0, 1].

    Crops come back in the input's dtype. cell_aspect (width / height of one cell, from the
    recipe) lets the outline be checked. layout: "framed" finds the string's outline on a dark
    background first; "full-frame" takes the image as the grid itself (single cells, rows or
    strings cropped at the cell edges, as labelling tools export them); "auto" tells them apart.
    """
    if img.ndim != 2:
        raise SegmentationError("expected a single-channel image")
    if layout not in LAYOUTS:
        raise SegmentationError(f"unknown layout {layout!r} ({', '.join(LAYOUTS)})")
    h, w = img.shape
    if min(h, w) < 8 or w / cols < 8 or h / rows < 8:
        raise SegmentationError(f"image is {w}x{h}: too small to hold a {rows}x{cols} grid of cells")
    unit = 255.0 if img.dtype == np.uint8 else 1.0
    if (float(img.max()) - float(img.min())) / unit < 0.05:
        raise SegmentationError("image has no contrast (blank, all black or saturated)")
    dark, noise = _layout_stats(img, unit)
    if noise > MAX_NOISE_RATIO:
        raise SegmentationError(f"image is noise, not an EL image (neighbour difference {noise:.2f} of the range)")
    if layout == "auto":
        layout = "framed" if dark >= FRAMED_DARK_BORDER else "full-frame"
    if layout == "full-frame":
        return _segment_full_frame(img, rows, cols, unit)
    # An integer factor keeps INTER_AREA on its fast block-averaging path (3-4x faster than a fractional one).
    factor = max(1, int(np.ceil(max(h, w) / WORK_WIDTH)))
    small = cv2.resize(img, (w // factor, h // factor), interpolation=cv2.INTER_AREA) if factor > 1 else img
    s = (w // factor) / w if factor > 1 else 1.0
    corners = _refine_quad(img, _find_quad(small.astype(np.float32) * np.float32(1 / unit)) / s)

    tl, tr, br, bl = corners
    width = float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    # The string's long side follows the grid's long side; rotate the corner order if not.
    if (cols >= rows) != (width >= height):
        corners = np.roll(corners, -1, axis=0)
        tl, tr, br, bl = corners
        width, height = height, width
    candidates = [corners]
    if cell_aspect is not None:
        expected = cols * cell_aspect / rows
        # A dead cell at an end of the string is as dark as the background, so the outline stops one cell
        # short. The recipe says how many cells the string holds: try the outline grown by the missing
        # cells at either end (or both), and keep the one whose gaps fall on a uniform pitch.
        missing = int(round((expected - width / height) / (cell_aspect / rows)))
        if 1 <= missing <= MAX_MISSING_END_CELLS and cols - missing >= 2:  # a pitch needs two cells seen
            ends = _dark_end_cells(img, corners, cols, missing, unit)
            if ends is not None:  # else: no end shows a cell, the checks below refuse the short outline
                candidates = [_extend(corners, *ends, cols - missing), corners]  # the plain outline: a wrong recipe
    best: _Grid | None = None
    for quad in candidates:
        grid = _grid(img, quad, rows, cols, unit)
        if best is None or grid.score > best.score:
            best = grid
        if grid.score >= 0:  # every check passes
            break
    assert best is not None
    corners, M, rect = best.corners, best.M, best.rect
    col_ext, row_ext, contrast = best.col_ext, best.row_ext, best.contrast
    W, H = rect.shape[1], rect.shape[0]
    if cell_aspect is not None:
        expected = cols * cell_aspect / rows
        actual = W / H
        if abs(actual - expected) / expected > 0.5 / max(cols, rows) + 0.08:
            raise SegmentationError(
                f"string outline is {actual:.2f}:1 but a {rows}x{cols} grid needs {expected:.2f}:1 "
                "(wrong recipe, or dark cells at the end of the string)"
            )
    if rows > 1 and cols > 1 and abs(best.col_contrast - best.row_contrast) > MAX_AXIS_CONTRAST_GAP:
        # Both kinds of gap show the same dark backsheet; a much fainter "row gap" is a ribbon.
        raise SegmentationError(
            f"no row gap for a {rows}x{cols} grid (row gaps {best.row_contrast:.2f} vs column gaps {best.col_contrast:.2f}): "
            "wrong recipe?"
        )
    if contrast < MIN_ACCEPT_CONTRAST:
        raise SegmentationError(
            f"cell gaps not found for a {rows}x{cols} grid (gap contrast {contrast:.2f} < {MIN_ACCEPT_CONTRAST})"
        )
    if best.deviation > MAX_PITCH_DEVIATION:
        raise SegmentationError(f"cell spacing irregular for a {rows}x{cols} grid: wrong recipe or damaged string")

    Minv = np.linalg.inv(M)
    cells: list[CellCrop] = []
    for r in range(rows):
        y0, y1 = int(round(row_ext[r][0])), int(round(row_ext[r][1]))
        for c in range(cols):
            x0, x1 = int(round(col_ext[c][0])), int(round(col_ext[c][1]))
            quad = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], dtype=np.float32)
            src = cv2.perspectiveTransform(quad, Minv)[0]
            bx0, by0 = np.floor(src.min(axis=0)).astype(int)
            bx1, by1 = np.ceil(src.max(axis=0)).astype(int)
            bx0, by0 = max(0, bx0), max(0, by0)
            bx1, by1 = min(w, bx1), min(h, by1)
            cells.append(
                CellCrop(
                    row=r + 1,
                    col=c + 1,
                    box=(int(bx0), int(by0), int(max(1, bx1 - bx0)), int(max(1, by1 - by0))),
                    pixels=rect[y0:y1, x0:x1],
                )
            )
    return Segmentation(cells=cells, corners=corners.astype(np.float32), gap_contrast=contrast)


@dataclass(frozen=True)
class _Grid:
    """One outline's rectified string and the grid found in it."""

    corners: np.ndarray  # (4, 2) float32 tl, tr, br, bl
    M: np.ndarray  # (3, 3) source -> rectified
    rect: np.ndarray  # (H, W) rectified string, the input's dtype
    col_ext: list[tuple[float, float]]
    row_ext: list[tuple[float, float]]
    col_contrast: float
    row_contrast: float
    deviation: float

    @property
    def contrast(self) -> float:
        """The weaker axis's median gap contrast."""
        return min(self.col_contrast, self.row_contrast)

    @property
    def score(self) -> float:
        """>= 0 when the gaps are seen and evenly spaced; otherwise how far from that (closer is better)."""
        return min(self.contrast - MIN_ACCEPT_CONTRAST, MAX_PITCH_DEVIATION - self.deviation)


def _grid(img: np.ndarray, corners: np.ndarray, rows: int, cols: int, unit: float) -> _Grid:
    """Rectify the outline `corners` and find the recipe's gaps in it."""
    tl, tr, br, bl = corners
    W = int(round(float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))))
    H = int(round(float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))))
    dst = np.array([[0, 0], [W, 0], [W, H], [0, H]], dtype=np.float32)
    M = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    rect = cv2.warpPerspective(img, M, (W, H), flags=cv2.INTER_LINEAR)
    col_ext, col_contrast, col_dev = _intervals(rect.mean(axis=0) / unit, cols) if cols > 1 else ([(0.0, float(W))], 1.0, 0.0)
    row_ext, row_contrast, row_dev = _intervals(rect.mean(axis=1) / unit, rows) if rows > 1 else ([(0.0, float(H))], 1.0, 0.0)
    return _Grid(corners, M, rect, col_ext, row_ext, col_contrast, row_contrast, max(col_dev, row_dev))


def _extend(corners: np.ndarray, before: float, after: float, seen: int) -> np.ndarray:
    """The outline of `seen` cells grown along its long side by `before` cells at its start and `after` at its end.

    The pitch is the outline's own (its length over the cells it holds), along the top and the bottom edge
    separately, so the perspective of the string carries on into the cells the outline missed.
    """
    tl, tr, br, bl = corners.astype(np.float32)
    top, bottom = (tr - tl) / seen, (br - bl) / seen
    return np.array([tl - before * top, tr + after * top, br + after * bottom, bl - before * bottom], dtype=np.float32)


def _dark_end_cells(img: np.ndarray, corners: np.ndarray, cols: int, missing: int, unit: float) -> tuple[int, int] | None:
    """(before, after): where the `missing` cells the outline left out lie, or None when no end tells.

    A dead cell still glows a little above the background (and has its texture); the dark beyond the last
    cell does not. Each possible cell beyond each end is compared with the background just past it; the
    split whose cells glow and whose next neighbours do not wins, by a margin, or no split is chosen: a
    cell placed at the wrong end would send the operator to the wrong cell.
    """
    reach = missing + 0.5
    quad = _extend(corners, reach, reach, cols - missing)
    tl, tr, _br, bl = quad
    W, H = int(round(float(np.linalg.norm(tr - tl)))), int(round(float(np.linalg.norm(bl - tl))))
    dst = np.array([[0, 0], [W, 0], [W, H], [0, H]], dtype=np.float32)
    M = cv2.getPerspectiveTransform(quad, dst)
    # Past the image's border the background continues (the border pixels), not a black fill.
    rect = cv2.warpPerspective(img, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    band = rect[int(0.2 * H) : int(0.8 * H)].astype(np.float32) / np.float32(unit)
    pitch = W / (cols - missing + 2 * reach)

    def level(a: float, b: float) -> float:
        return float(np.median(band[:, int(a) : max(int(a) + 1, int(b))]))

    lit = float(level(reach * pitch, W - reach * pitch))  # the cells the outline holds
    before_bg, after_bg = level(0, 0.4 * pitch), level(W - 0.4 * pitch, W)
    # glow[k-1]: the k-th possible cell past each end (1 = next to the outline), above its background
    before = [
        level((reach - k) * pitch + 0.1 * pitch, (reach - k + 1) * pitch - 0.1 * pitch) - before_bg for k in range(1, missing + 1)
    ]
    after = [
        level(W - (reach - k + 1) * pitch + 0.1 * pitch, W - (reach - k) * pitch - 0.1 * pitch) - after_bg
        for k in range(1, missing + 1)
    ]
    best, best_margin = None, -1.0
    for b in range(missing + 1):
        a = missing - b
        taken = before[:b] + after[:a]
        left_out = before[b : b + 1] + after[a : a + 1]
        margin = min(taken) - max(left_out, default=0.0)
        if margin > best_margin:
            best, best_margin = (b, a), margin
    if best is None or best_margin < END_CELL_GLOW * max(lit, 1e-3):
        return None
    return best


def _segment_full_frame(img: np.ndarray, rows: int, cols: int, unit: float) -> Segmentation:
    """The image is the grid, cropped at the cell edges: find the (thin, faint) gaps from profiles.

    The recipe's cell count is the prior: each gap is searched where a uniform pitch puts it and
    the grid line is fitted through the gaps that are seen. Faint or hidden gaps fall back to the
    fitted pitch; a grid whose visible gaps disagree with any uniform pitch is refused.
    """
    h, w = img.shape
    col_ext, _cc, col_dev = _intervals(img.mean(axis=0) / unit, cols, robust=True) if cols > 1 else ([(0.0, float(w))], 1.0, 0.0)
    row_ext, _rc, row_dev = _intervals(img.mean(axis=1) / unit, rows, robust=True) if rows > 1 else ([(0.0, float(h))], 1.0, 0.0)
    if max(col_dev, row_dev) > MAX_PITCH_DEVIATION:
        raise SegmentationError(
            f"cell spacing irregular for a {rows}x{cols} full-frame grid (pitch off by {max(col_dev, row_dev):.0%}): wrong recipe?"
        )
    contrast = min(_cc, _rc)
    cells: list[CellCrop] = []
    for r in range(rows):
        y0, y1 = int(round(row_ext[r][0])), int(round(row_ext[r][1]))
        for c in range(cols):
            x0, x1 = int(round(col_ext[c][0])), int(round(col_ext[c][1]))
            x0, y0 = max(0, min(x0, w - 1)), max(0, min(y0, h - 1))
            x1, y1 = max(x0 + 1, min(x1, w)), max(y0 + 1, min(y1, h))
            cells.append(CellCrop(row=r + 1, col=c + 1, box=(x0, y0, x1 - x0, y1 - y0), pixels=img[y0:y1, x0:x1]))
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    return Segmentation(cells=cells, corners=corners, gap_contrast=contrast)
