"""Overlay of a judged string: defective cells outlined and named (for `eltrace inspect --overlay`)."""

from __future__ import annotations

import cv2
import numpy as np

from services.contracts import ResultEnvelope


def render_overlay(pixels: np.ndarray, envelope: ResultEnvelope, *, max_width: int = 2400) -> np.ndarray:
    """BGR uint8 image: NG cells red, tolerated defects amber, defect boxes thin, labels above."""
    img = pixels
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    scale = min(1.0, max_width / img.shape[1])
    if scale < 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    thick = max(2, int(out.shape[1] / 800))
    for c in envelope.cells:
        if c.cls == "ok":
            continue
        review = c.effective_decision.value == "REVIEW"
        color = (0, 0, 255) if c.ng else (0, 120, 255) if review else (0, 200, 255)
        x, y, w, h = (int(v * scale) for v in (c.box.x, c.box.y, c.box.w, c.box.h))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        if c.defect_box is not None:
            b = c.defect_box
            cv2.rectangle(
                out, (int(b.x * scale), int(b.y * scale)), (int((b.x + b.w) * scale), int((b.y + b.h) * scale)), color, 1
            )
        label = f"r{c.row}c{c.col} {'REVIEW ' if review else ''}{c.cls} {c.score:.2f}"
        cv2.putText(out, label, (x + 4, max(14, y + 18)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    banner = {"OK": (0, 160, 0), "REVIEW": (0, 120, 255), "NG": (0, 0, 220), "ERROR": (0, 140, 255)}[envelope.verdict.value]
    cv2.putText(
        out,
        f"{envelope.barcode} S{envelope.string_position}: {envelope.verdict.value}",
        (10, 30),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.9,
        banner,
        2,
        cv2.LINE_AA,
    )
    return out
