"""One string EL image -> one result envelope: decode, segment, classify, decide.

Anything that stops a judgement produces an ERROR envelope with the reason; never OK.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from edge.acquisition.decode import DecodedImage, ImageRejected, decode, sniff, to_unit_u8
from edge.inference.model import CellClassifier
from edge.inference.rules import DecisionRules
from edge.segmentation.grid import Segmentation, SegmentationError, segment
from services.contracts import (
    Box,
    CellDecision,
    CellResult,
    Grid,
    ImageRef,
    ModelRef,
    ResultEnvelope,
    ShadowCell,
    ShadowVerdict,
    Verdict,
    make_result_id,
)
from services.contracts.result import SCHEMA_VERSION, SHADOW_VERSION, Stage

MAX_UPLOAD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Recipe:
    """Product recipe: the string's cell grid and the cell's width / height."""

    name: str
    grid: Grid
    cell_aspect: float | None = None
    layout: str = "auto"  # framed (string on a dark background) | full-frame (the image is the cell grid) | auto


@dataclass(frozen=True)
class ShadowModel:
    """A candidate model judging beside the live one: its verdicts are stored with the result, never acted on."""

    classifier: CellClassifier
    rules: DecisionRules

    @property
    def ref(self) -> ModelRef:
        """Which model this is, as results name it."""
        info = self.classifier.info
        return ModelRef(name=info.name, version=info.version, sha256=info.sha256)


@dataclass(frozen=True)
class Outcome:
    """The envelope plus what the worker needs to keep (image bytes, decoded pixels)."""

    envelope: ResultEnvelope
    image_bytes: bytes | None  # None when not kept (over the size cap)
    decoded: DecodedImage | None


class Inspector:
    """Judges string images for one device / station with one model and rule set."""

    def __init__(
        self,
        classifier: CellClassifier,
        rules: DecisionRules,
        *,
        device_id: str,
        station_id: str,
        shadow: ShadowModel | None = None,
    ) -> None:
        self.classifier = classifier
        self.rules = rules
        self.shadow = shadow  # set or cleared while running (one reference): the next image sees the change
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
                bit_depth=decoded.bit_depth if decoded else None,
                uploaded=keep is not None and (decoded is not None or sniff(data) is not None),
            )
            env = ResultEnvelope(
                **common, verdict=Verdict.ERROR, error=reason[:500], cells=[], timings_ms=_round(timings), image=ref
            )
            return Outcome(env, keep if ref.uploaded else None, decoded)

        if refuse is not None:
            return error(refuse)
        try:
            decoded = self.decode(data)
            timings["decode"] = (time.perf_counter() - t0) * 1000  # from the start: hashing included
            with Profile(
                timings,
                "segment",
                known=SegmentationError,
                known_reason="segmentation: {exc}",
                failed="segmentation failed: {type}: {exc}",
            ):
                seg = self.segment(decoded, recipe)
            with Profile(timings, "preprocess"):
                batch = self.preprocess(seg)
            with Profile(timings, "infer", failed="inference failed: {type}: {exc}"):
                probs, heat = self.infer(batch, len(seg.cells))
            with Profile(timings, "decide", failed="decision failed: {type}: {exc}"):
                cells, verdict = self.postprocess(seg, probs, heat)
        except StageFailed as exc:
            return error(exc.reason)
        except Exception as exc:  # noqa: BLE001 - whatever a strange image triggers, it is this image's ERROR
            return error(f"could not judge the image ({type(exc).__name__}: {exc})")
        timings["total"] = (time.perf_counter() - t0) * 1000
        ref = ImageRef(
            sha256=sha,
            size_bytes=len(data),
            content_type=decoded.content_type,
            width=decoded.pixels.shape[1],
            height=decoded.pixels.shape[0],
            bit_depth=decoded.bit_depth,
            uploaded=keep is not None,
        )
        shadow = self.shadow
        judged = self._shadow(shadow, seg) if shadow is not None else None
        version = SHADOW_VERSION if judged is not None else SCHEMA_VERSION
        env = ResultEnvelope(
            **common, schema_version=version, verdict=verdict, cells=cells, timings_ms=_round(timings), image=ref, shadow=judged
        )
        return Outcome(env, keep, decoded)

    @staticmethod
    def _shadow(shadow: ShadowModel, seg: Segmentation) -> ShadowVerdict:
        """The shadow model on the same cell crops; whatever fails is the shadow's ERROR, never the live result's."""
        t0 = time.perf_counter()
        try:
            batch = shadow.classifier.preprocess([c.pixels for c in seg.cells])
            probs, heat = shadow.classifier.run(batch)
            if not np.all(np.isfinite(probs)) or probs.shape != (len(seg.cells), len(shadow.classifier.info.classes)):
                raise ValueError("non-finite or misshapen scores")
            cells = [
                ShadowCell(
                    row=crop.row,
                    col=crop.col,
                    decision=CellDecision(d.decision),
                    p_defect=round(min(1.0, max(0.0, d.p_defect)), 5),
                    top_class=d.top_class,
                    top_score=round(min(1.0, max(0.0, d.top_score)), 5),
                )
                for crop, d in zip(seg.cells, shadow.rules.decide(probs, heat), strict=True)
            ]
            decisions = {c.decision for c in cells}
            verdict = (
                Verdict.NG if CellDecision.NG in decisions else Verdict.REVIEW if CellDecision.REVIEW in decisions else Verdict.OK
            )
            return ShadowVerdict(model=shadow.ref, verdict=verdict, cells=cells, ms=round((time.perf_counter() - t0) * 1000, 2))
        except Exception as exc:  # noqa: BLE001 - a failing candidate must not cost the live result
            ms = round((time.perf_counter() - t0) * 1000, 2)
            return ShadowVerdict(
                model=shadow.ref, verdict=Verdict.ERROR, error=f"shadow failed: {type(exc).__name__}: {exc}"[:500], ms=ms
            )

    # ---- the stages: decode + segment -> preprocess -> infer -> postprocess ----------------------

    def decode(self, data: bytes) -> DecodedImage:
        """Bytes -> pixels (uint8 or uint16), refusing what is not a sane image."""
        try:
            return decode(data)
        except ImageRejected as exc:
            raise StageFailed(f"image rejected: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - a decoder bug on odd bytes is still only this image's problem
            raise StageFailed(f"image rejected: decoder failed ({type(exc).__name__}: {exc})") from exc

    def segment(self, decoded: DecodedImage, recipe: Recipe) -> Segmentation:
        """The recipe's cell grid found in the image."""
        img = to_unit_u8(decoded.pixels)
        return segment(img, recipe.grid.rows, recipe.grid.cols, cell_aspect=recipe.cell_aspect, layout=recipe.layout)

    def preprocess(self, seg: Segmentation) -> np.ndarray:
        """Cell crops -> the model's input batch (N, 1, H, W) float32."""
        return self.classifier.preprocess([c.pixels for c in seg.cells])

    def infer(self, batch: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities (N, C) and heat maps (N, h, w) or None; refuses non-finite or misshapen output."""
        probs, heat = self.classifier.run(batch)
        if not np.all(np.isfinite(probs)) or probs.shape != (n_cells, len(self.classifier.info.classes)):
            raise StageFailed("inference produced non-finite or misshapen scores")
        return probs, heat

    def postprocess(self, seg: Segmentation, probs: np.ndarray, heat: np.ndarray | None) -> tuple[list[CellResult], Verdict]:
        """Per-cell OK / REVIEW / NG with boxes in image pixels, and the string verdict."""
        decisions = self.rules.decide(probs, heat)
        cells: list[CellResult] = []
        for crop, d in zip(seg.cells, decisions, strict=True):
            bx, by, bw, bh = crop.box
            dbox = None
            if d.defect_box is not None and heat is not None:
                hh, hw = heat.shape[1:]
                x, y, w, h = d.defect_box
                dbox = Box(
                    x=bx + int(x * bw / hw), y=by + int(y * bh / hh), w=max(1, int(w * bw / hw)), h=max(1, int(h * bh / hh))
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
        if any(c.ng for c in cells):
            return cells, Verdict.NG
        if any(c.decision is CellDecision.REVIEW for c in cells):
            return cells, Verdict.REVIEW
        return cells, Verdict.OK


class StageFailed(Exception):
    """A stage could not do its part for this image; the reason goes into the ERROR result."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Profile:
    """Times one stage into timings[name] (ms) and turns its failure into StageFailed with a reason.

    known: the stage's own error type, reported as known_reason; anything else is a bug on an odd
    image, reported as failed. Either way it is this image's ERROR, never the worker's crash.
    """

    def __init__(
        self,
        timings: dict[str, float],
        name: str,
        *,
        known: type[Exception] | None = None,
        known_reason: str = "{exc}",
        failed: str | None = None,
    ) -> None:
        self.timings, self.name, self.known, self.known_reason = timings, name, known, known_reason
        self.failed = failed or f"{name} failed: {{type}}: {{exc}}"

    def __enter__(self) -> Profile:
        self.t = time.perf_counter()
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if exc is None:
            self.timings[self.name] = (time.perf_counter() - self.t) * 1000
            return False
        if isinstance(exc, StageFailed) or not isinstance(exc, Exception):
            return False
        if self.known is not None and isinstance(exc, self.known):
            raise StageFailed(self.known_reason.format(exc=exc)) from exc
        raise StageFailed(self.failed.format(type=type(exc).__name__, exc=exc)) from exc


def _round(t: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in t.items()}
