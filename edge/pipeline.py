"""One string EL image -> one result envelope: decode, segment, classify, decide.

Anything that stops a judgement produces an ERROR envelope with the reason; never OK.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from edge.acquisition.decode import DecodedImage, ImageRejected, decode, sniff, to_unit_u8
from edge.inference.model import CellClassifier
from edge.inference.rules import DecisionRules
from edge.segmentation.grid import SegmentationError, segment
from services.contracts import (
    Box,
    CellDecision,
    CellResult,
    Grid,
    ImageRef,
    ModelRef,
    ResultEnvelope,
    Verdict,
    make_result_id,
)
from services.contracts.result import Stage

MAX_UPLOAD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Recipe:
    """Product recipe: the string's cell grid and the cell's width / height."""

    name: str
    grid: Grid
    cell_aspect: float | None = None
    layout: str = "auto"  # framed (string on a dark background) | full-frame (the image is the cell grid) | auto


@dataclass(frozen=True)
class Outcome:
    """The envelope plus what the worker needs to keep (image bytes, decoded pixels)."""

    envelope: ResultEnvelope
    image_bytes: bytes | None  # None when not kept (over the size cap)
    decoded: DecodedImage | None


class Inspector:
    """Judges string images for one device / station with one model and rule set."""

    def __init__(self, classifier: CellClassifier, rules: DecisionRules, *, device_id: str, station_id: str) -> None:
        self.classifier = classifier
        self.rules = rules
        self.device_id = device_id
        self.station_id = station_id
        info = classifier.info
        self.model_ref = ModelRef(name=info.name, version=info.version, sha256=info.sha256)

    def inspect(
        self,
        data: bytes,
        *,
        barcode: str,
        string_position: int,
        recipe: Recipe,
        captured_at: datetime,
        stage: Stage = Stage.STRING_EL,
    ) -> Outcome:
        """Judge one image. Raises ValueError only for an unusable barcode / position.

        Whatever goes wrong while judging (a corrupt file, a segmentation or model bug) becomes an
        ERROR result with the reason: never OK, and never an exception that stops the worker.
        """
        return self._inspect(
            data, barcode=barcode, string_position=string_position, recipe=recipe, captured_at=captured_at, stage=stage
        )

    def unjudged(
        self,
        data: bytes,
        *,
        barcode: str,
        string_position: int,
        recipe: Recipe,
        captured_at: datetime,
        stage: Stage = Stage.STRING_EL,
        reason: str,
    ) -> Outcome:
        """The ERROR result of an image that is not judged at all (e.g. it crashed the worker before)."""
        return self._inspect(
            data,
            barcode=barcode,
            string_position=string_position,
            recipe=recipe,
            captured_at=captured_at,
            stage=stage,
            refuse=reason,
        )

    def _inspect(
        self,
        data: bytes,
        *,
        barcode: str,
        string_position: int,
        recipe: Recipe,
        captured_at: datetime,
        stage: Stage,
        refuse: str | None = None,
    ) -> Outcome:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        sha = hashlib.sha256(data).hexdigest()
        result_id = make_result_id(
            device_id=self.device_id, barcode=barcode, string_position=string_position, stage=stage, image_sha256=sha
        )
        keep = data if 0 < len(data) <= MAX_UPLOAD_BYTES else None
        common = dict(
            result_id=result_id,
            device_id=self.device_id,
            station_id=self.station_id,
            barcode=barcode,
            string_position=string_position,
            stage=stage,
            captured_at=captured_at,
            recipe=recipe.name,
            grid=recipe.grid,
            model=self.model_ref,
        )
        decoded: DecodedImage | None = None

        def error(reason: str) -> Outcome:
            timings["total"] = (time.perf_counter() - t0) * 1000
            ref = ImageRef(
                sha256=sha,
                size_bytes=len(data),
                content_type=(decoded.content_type if decoded else sniff(data)) or "application/octet-stream",
                width=decoded.pixels.shape[1] if decoded else None,
                height=decoded.pixels.shape[0] if decoded else None,
                bit_depth=decoded.bit_depth if decoded else None,  # type: ignore[arg-type]
                uploaded=keep is not None and (decoded is not None or sniff(data) is not None),
            )
            env = ResultEnvelope(
                **common, verdict=Verdict.ERROR, error=reason[:500], cells=[], timings_ms=_round(timings), image=ref
            )
            return Outcome(env, keep if ref.uploaded else None, decoded)

        if refuse is not None:
            return error(refuse)

        def judge() -> Outcome:
            nonlocal decoded
            try:
                decoded = decode(data)
            except ImageRejected as exc:
                return error(f"image rejected: {exc}")
            except Exception as exc:  # noqa: BLE001 - a decoder bug on odd bytes is still only this image's problem
                return error(f"image rejected: decoder failed ({type(exc).__name__}: {exc})")
            timings["decode"] = (time.perf_counter() - t0) * 1000
            t = time.perf_counter()
            try:
                img = to_unit_u8(decoded.pixels)
                seg = segment(img, recipe.grid.rows, recipe.grid.cols, cell_aspect=recipe.cell_aspect, layout=recipe.layout)
            except SegmentationError as exc:
                return error(f"segmentation: {exc}")
            except Exception as exc:  # noqa: BLE001 - see inspect(): an unforeseen image must not crash the worker
                return error(f"segmentation failed: {type(exc).__name__}: {exc}")
            timings["segment"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            try:
                batch = self.classifier.preprocess([c.pixels for c in seg.cells])
            except Exception as exc:  # noqa: BLE001
                return error(f"preprocess failed: {type(exc).__name__}: {exc}")
            timings["preprocess"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            try:
                probs, heat = self.classifier.run(batch)
            except Exception as exc:  # noqa: BLE001 - a model failure must still produce a result
                return error(f"inference failed: {type(exc).__name__}: {exc}")
            timings["infer"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            if not np.all(np.isfinite(probs)) or probs.shape != (len(seg.cells), len(self.classifier.info.classes)):
                return error("inference produced non-finite or misshapen scores")
            try:
                decisions = self.rules.decide(probs, heat)
            except Exception as exc:  # noqa: BLE001
                return error(f"decision failed: {type(exc).__name__}: {exc}")
            cells: list[CellResult] = []
            for crop, d in zip(seg.cells, decisions, strict=True):
                bx, by, bw, bh = crop.box
                dbox = None
                if d.defect_box is not None and heat is not None:
                    hh, hw = heat.shape[1:]
                    x, y, w, h = d.defect_box
                    dbox = Box(
                        x=bx + int(x * bw / hw),
                        y=by + int(y * bh / hh),
                        w=max(1, int(w * bw / hw)),
                        h=max(1, int(h * bh / hh)),
                    )
                cells.append(
                    CellResult(
                        row=crop.row,
                        col=crop.col,
                        cls=d.cls,
                        score=round(min(1.0, max(0.0, d.score)), 5),
                        ng=d.ng,
                        box=Box(x=bx, y=by, w=bw, h=bh),
                        defect_box=dbox,
                        decision=CellDecision(d.decision),
                        p_defect=round(d.p_defect, 5),
                        top_class=d.top_class,
                        top_score=round(d.top_score, 5),
                    )
                )
            timings["decide"] = (time.perf_counter() - t) * 1000
            timings["total"] = (time.perf_counter() - t0) * 1000
            if any(c.ng for c in cells):
                verdict = Verdict.NG
            elif any(c.decision is CellDecision.REVIEW for c in cells):
                verdict = Verdict.REVIEW
            else:
                verdict = Verdict.OK
            ref = ImageRef(
                sha256=sha,
                size_bytes=len(data),
                content_type=decoded.content_type,
                width=decoded.pixels.shape[1],
                height=decoded.pixels.shape[0],
                bit_depth=decoded.bit_depth,  # type: ignore[arg-type]
                uploaded=keep is not None,
            )
            env = ResultEnvelope(**common, verdict=verdict, cells=cells, timings_ms=_round(timings), image=ref)
            return Outcome(env, keep, decoded)

        try:
            return judge()
        except Exception as exc:  # noqa: BLE001 - whatever a strange image triggers, it is this image's ERROR
            return error(f"could not judge the image ({type(exc).__name__}: {exc})")


def _round(t: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in t.items()}
