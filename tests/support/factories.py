"""Test data: the same generated envelopes the benchmarks use, plus results shaped by hand."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cli.benchdata import MODEL, T0, make_envelope, png_for, v2_cell
from services.contracts import Box, CellDecision, CellResult, Grid, ImageRef, ResultEnvelope, Verdict, make_result_id
from services.ingest.store import store_batch

_seq = iter(range(10_000_000, 20_000_000))


def result(
    barcode: str,
    string: int = 1,
    *,
    ng: Sequence[tuple[int, int, str]] = (),
    review: Sequence[tuple[int, int, str]] = (),
    stage: str = "string_el",
    at: datetime | None = None,
    station: str = "STR-EL-01",
    device: str = "edge-t1",
    error: bool = False,
    cols: int = 12,
    png: bytes | None = None,
    size: tuple[int, int] = (1200, 100),
    schema_version: int = 2,
    ok_score: float = 0.01,
) -> tuple[ResultEnvelope, bytes]:
    """One string result with NG (and REVIEW) cells at (row, col, class); a fresh image each call.

    ok_score is the p(defect) of its OK cells (NG cells 0.95, REVIEW cells 0.4).
    """
    png = png or png_for(next(_seq))
    sha = hashlib.sha256(png).hexdigest()
    w, h = size
    cw = w // cols
    bad = {(r, c): cls for r, c, cls in ng}
    doubt = {(r, c): cls for r, c, cls in review}
    cells = []
    if not error:
        for c in range(1, cols + 1):
            cls = bad.get((1, c), doubt.get((1, c), "ok"))
            decision = CellDecision.NG if (1, c) in bad else CellDecision.REVIEW if (1, c) in doubt else CellDecision.OK
            p_def = {CellDecision.NG: 0.95, CellDecision.REVIEW: 0.4, CellDecision.OK: ok_score}[decision]
            cells.append(
                CellResult(
                    row=1,
                    col=c,
                    cls=cls,
                    score=p_def if cls != "ok" else 0.99,
                    ng=decision is CellDecision.NG,
                    box=Box(x=(c - 1) * cw + 2, y=2, w=cw - 4, h=h - 4),
                    defect_box=Box(x=(c - 1) * cw + 10, y=10, w=cw // 3 + c, h=h // 4) if cls != "ok" else None,
                    **v2_cell(decision is CellDecision.NG, cls if cls != "ok" else "crack", p_def, schema_version, decision),
                )
            )
    verdict = Verdict.ERROR if error else (Verdict.NG if bad else Verdict.REVIEW if doubt else Verdict.OK)
    env = ResultEnvelope(
        schema_version=schema_version,
        result_id=make_result_id(device_id=device, barcode=barcode, string_position=string, stage=stage, image_sha256=sha),
        device_id=device,
        station_id=station,
        barcode=barcode,
        string_position=string,
        stage=stage,
        captured_at=at or T0,
        recipe="full-1x12",
        grid=Grid(rows=1, cols=cols),
        model=MODEL,
        verdict=verdict,
        error="no string found" if error else None,
        cells=cells,
        timings_ms={"total": 50.0},
        image=ImageRef(sha256=sha, size_bytes=len(png), content_type="image/png", width=w, height=h, bit_depth=8),
    )
    return env, png


def ingest(session: Session, envs: Sequence[ResultEnvelope], device_row_id: int, loop_limit: int = 2) -> list[str]:
    """What one ingest batch does: store the results, then move the rework loop, in the caller's transaction."""
    return store_batch(session=session, items=[(e, device_row_id) for e in envs], loop_limit=loop_limit)


def later(minutes: int) -> datetime:
    """T0 + minutes."""
    return T0 + timedelta(minutes=minutes)


__all__ = ["MODEL", "T0", "make_envelope", "png_for", "result", "ingest", "later"]


# For tests about PPM and imports, not about release: their modules have no string EL history, which the
# shipping gate would rightly refuse (tests/integration/test_gate.py tests the gate on the import).
NO_SHIP_GATE: dict[str, list[str]] = {"shipping": []}


def case_people(session: Session) -> None:
    """The accounts the complaint tests name: qe1 (quality engineer) and cs1 (customer service) own 8D disciplines."""
    from services.security.service import create_user

    create_user(session=session, username="qe1", password="case-people-password-1", role="quality_engineer")
    create_user(session=session, username="cs1", password="case-people-password-1", role="customer_service")
