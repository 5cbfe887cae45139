"""Generated result envelopes (benchmarks and tests): realistic shape, small unique PNG images."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from services.contracts import Box, CellDecision, CellResult, Grid, ImageRef, ModelRef, ResultEnvelope, Verdict, make_result_id

MODEL = ModelRef(name="tiny-test-model", version="0.0.1-test", sha256="0" * 64)
T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def png_for(i: int) -> bytes:
    """A unique, valid 16x16 8-bit PNG."""
    img = np.zeros((16, 16), np.uint8)
    img.flat[:8] = np.frombuffer(i.to_bytes(8, "little"), np.uint8)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def make_envelope(
    device_id: str,
    i: int,
    *,
    station: str = "STR-EL-01",
    ng_cell: bool | None = None,
    grid: Grid = Grid(rows=1, cols=12),
    schema_version: int = 2,
) -> tuple[ResultEnvelope, bytes]:
    """Result number i of a device; every 7th is NG (cell 1,3 cracked) unless ng_cell says otherwise.

    schema_version 1 builds the envelope an edge before the triage sent (no cell decisions).
    """
    png = png_for(i)
    sha = hashlib.sha256(png).hexdigest()
    barcode = f"M{i // 6:09d}"
    pos = i % 6 + 1
    ng = (i % 7 == 0) if ng_cell is None else ng_cell
    cells = []
    for r in range(1, grid.rows + 1):
        for c in range(1, grid.cols + 1):
            bad = ng and (r, c) == (1, 3)
            cells.append(
                CellResult(
                    row=r,
                    col=c,
                    cls="crack" if bad else "ok",
                    score=0.97 if bad else 0.99,
                    ng=bad,
                    box=Box(x=c * 100, y=r * 100, w=98, h=98),
                    defect_box=Box(x=c * 100 + 10, y=r * 100 + 20, w=30, h=8) if bad else None,
                    **v2_cell(bad, "crack", 0.97 if bad else 0.01, schema_version),
                )
            )
    env = ResultEnvelope(
        schema_version=schema_version,
        result_id=make_result_id(device_id=device_id, barcode=barcode, string_position=pos, stage="string_el", image_sha256=sha),
        device_id=device_id,
        station_id=station,
        barcode=barcode,
        string_position=pos,
        captured_at=T0 + timedelta(seconds=i),
        recipe="full-1x12",
        grid=grid,
        model=MODEL,
        verdict=Verdict.NG if ng else Verdict.OK,
        cells=cells,
        timings_ms={"total": 55.0},
        image=ImageRef(sha256=sha, size_bytes=len(png), content_type="image/png", width=16, height=16, bit_depth=8),
    )
    return env, png


def v2_cell(bad: bool, cls: str, p_defect: float, schema_version: int, decision: CellDecision | None = None) -> dict[str, object]:
    """The v2 cell fields (nothing for a v1 envelope)."""
    if schema_version == 1:
        return {}
    return {
        "decision": decision or (CellDecision.NG if bad else CellDecision.OK),
        "p_defect": p_defect,
        "top_class": cls,
        "top_score": p_defect,
    }
