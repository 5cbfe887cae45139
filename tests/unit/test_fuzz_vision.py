"""Property-based: random images of any size, bit depth and channel count never crash segmentation or the inspector.

A fuzzing pass once found a noise PNG that made segmentation raise ValueError and killed the
worker on every restart. Here hypothesis generates such inputs in CI: segmentation either
raises SegmentationError with a reason or returns a full, in-bounds grid, and the Inspector
always returns a valid result (ERROR with a reason when it cannot judge).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.inference.model import CellClassifier
from edge.inference.rules import DecisionRules
from edge.pipeline import Inspector, Recipe
from edge.segmentation.grid import SegmentationError, segment
from services.contracts import Grid, ResultEnvelope, Verdict
from tests.support.tiny_model import build_tiny_model

PATTERNS = ("noise", "constant", "gradient", "stripes", "blocks", "grid", "sparse")


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    """(H, W[, C]) uint8 / uint16 images of many shapes and contents."""
    h = draw(st.integers(1, 700))
    w = draw(st.integers(1, 2600))
    depth = draw(st.sampled_from([np.uint8, np.uint16]))
    top = 255 if depth is np.uint8 else 65535
    kind = draw(st.sampled_from(PATTERNS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        img = rng.integers(0, top + 1, (h, w))
    elif kind == "constant":
        img = np.full((h, w), draw(st.integers(0, top)))
    elif kind == "gradient":
        img = np.linspace(0, top, w)[None, :].repeat(h, 0)
    elif kind == "stripes":
        period = draw(st.integers(1, 200))
        img = ((np.arange(w) // period) % 2 * top)[None, :].repeat(h, 0)
    elif kind == "blocks":
        img = cv2.resize(
            rng.integers(0, top + 1, (max(1, h // 50), max(1, w // 50))).astype(np.float32),
            (w, h),
            interpolation=cv2.INTER_NEAREST,
        )
    elif kind == "grid":  # bright cells on dark gaps at a random pitch: nearly a string
        img = np.full((h, w), top * 0.8)
        img[:, :: draw(st.integers(2, 400))] = 0
        img[:: draw(st.integers(2, 400)), :] = 0
    else:
        img = np.zeros((h, w))
        img.flat[rng.integers(0, h * w, max(1, h * w // 1000))] = top
    img = np.asarray(img).astype(depth)
    channels = draw(st.sampled_from([1, 3, 4]))
    if channels > 1:
        img = np.repeat(img[:, :, None], channels, axis=2)
    return img


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(img=images(), rows=st.integers(1, 3), cols=st.integers(1, 24), layout=st.sampled_from(["auto", "framed", "full-frame"]))
def test_segmentation_refuses_with_a_reason_or_returns_a_full_in_bounds_grid(
    img: np.ndarray, rows: int, cols: int, layout: str
) -> None:
    gray = img if img.ndim == 2 else img[:, :, 0]
    try:
        seg = segment(gray, rows, cols, layout=layout)
    except SegmentationError as exc:
        assert str(exc)
        return
    h, w = gray.shape
    assert len(seg.cells) == rows * cols
    for c in seg.cells:
        x, y, bw, bh = c.box
        assert 0 <= x < w and 0 <= y < h and bw >= 1 and bh >= 1 and x + bw <= w and y + bh <= h
        assert c.pixels.size > 0


@pytest.fixture(scope="module")
def inspector(tmp_path_factory: pytest.TempPathFactory) -> Inspector:
    model = CellClassifier.load(build_tiny_model(Path(tmp_path_factory.mktemp("model"))))
    return Inspector(model, DecisionRules.for_model(model.info), device_id="edge-fuzz", station_id="FUZZ")


@FUZZ
@given(img=images(), cols=st.integers(1, 24), ext=st.sampled_from([".png", ".tiff", ".bmp"]), cut=st.integers(0, 3))
def test_the_inspector_always_returns_a_valid_result(
    inspector: Inspector, img: np.ndarray, cols: int, ext: str, cut: int
) -> None:
    if img.dtype == np.uint16 and ext == ".bmp":
        ext = ".png"
    ok, buf = cv2.imencode(ext, img)
    data = buf.tobytes() if ok else b"not an image"
    if cut:  # truncated and corrupt variants of the same file
        data = data[: len(data) * cut // 4] if cut < 3 else data[:64] + bytes(128) + data[192:]
    out = inspector.inspect(
        data, barcode="FUZZ1", string_position=1, recipe=Recipe("fuzz", Grid(rows=1, cols=cols)), captured_at=datetime.now(UTC)
    )
    env = ResultEnvelope.model_validate_json(out.envelope.model_dump_json())  # the contract's own invariants hold
    if env.verdict is Verdict.ERROR:
        assert env.error and env.cells == []
    else:
        assert len(env.cells) == cols and all(c.decision is not None for c in env.cells)
