"""Result contract: what an edge worker says about one string EL image.

v2 (current) adds the three-way triage: every cell carries its decision (OK / REVIEW / NG),
p(defect) and its top defect class with that class's probability, and a string can be REVIEW.
v3 is v2 plus a shadow verdict: what a candidate model running beside the live one said about the
same image (stored, never acted on); an edge sends v3 only for results that carry one, so a
station without a shadow model speaks v2 byte for byte.
v1 results (OK / NG cells only) still validate, so what sits in an outbox or a stream at an
upgrade keeps landing.
"""

from __future__ import annotations

import json
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Literal[2] = 2
SHADOW_VERSION: Literal[3] = 3  # the version of a result that carries a shadow verdict
SUPPORTED_VERSIONS = (1, 2, 3)
# Fixed namespace so every edge and the API derive the same result_id for the same capture.
_RESULT_NAMESPACE = uuid.UUID("5b0c7f0e-51d5-4d1e-9a57-5e1c3a7e2f01")
_SHA256 = r"^[0-9a-f]{64}$"
BARCODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
# A class name is a model's identifier (snake_case ASCII), never free text: pages show it, scripts read it.
CLASS_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
DEVICE_PATTERN = r"^[a-z0-9][a-z0-9\-]{0,39}$"

Sha256 = Annotated[str, Field(pattern=_SHA256)]


def normalise_barcode(text: str) -> str:
    """A barcode as scanned or typed -> as stored: control characters and surrounding blanks dropped,
    letters in upper case (a Caps Lock scan is the same module). The one rule for every way in; the
    result may still fail BARCODE_PATTERN."""
    return "".join(ch for ch in text if ch.isprintable()).strip().upper()


class Verdict(StrEnum):
    """Judgement of a whole string image."""

    OK = "OK"
    REVIEW = "REVIEW"  # v2: no cell NG, some cell needs an EL operator's look; opens no rework loop by itself
    NG = "NG"
    ERROR = "ERROR"


class CellDecision(StrEnum):
    """Triage of one cell (v2): pass, confirm on screen, or rework."""

    OK = "OK"
    REVIEW = "REVIEW"
    NG = "NG"


class Stage(StrEnum):
    """Where in the line the EL image was taken."""

    STRING_EL = "string_el"
    POST_LAMINATION_EL = "post_lamination_el"
    FINAL_EL = "final_el"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Box(_Frozen):
    """Axis-aligned box in image pixel coordinates (x, y = top-left)."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)


class Grid(_Frozen):
    """Cell grid of a string, from the product recipe."""

    rows: int = Field(ge=1, le=8)
    cols: int = Field(ge=1, le=40)

    @classmethod
    def parse(cls, text: str) -> Grid:
        """Parse 'RxC', e.g. '2x12'."""
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
        if not m:
            raise ValueError(f"grid must look like RxC (e.g. 1x12), got {text!r}")
        return cls(rows=int(m.group(1)), cols=int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols}"


class ModelRef(_Frozen):
    """Which classifier produced the verdict."""

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=50)
    sha256: Sha256


class ImageRef(_Frozen):
    """The source image; bytes travel through the image store, never through Redis."""

    sha256: Sha256
    size_bytes: int = Field(ge=0)
    content_type: str = Field(max_length=50)
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    bit_depth: Literal[8, 16] | None = None
    # False when the edge refused to keep the bytes (over the size cap): nothing to wait for.
    uploaded: bool = True


class CellResult(_Frozen):
    """One cell of the string. row and col are 1-based, as operators count them.

    cls is "ok" or the defect class the decision is about; score is p(defect) for a defect and
    p(ok) for an OK cell (v1 meaning, kept). v2 adds decision, p_defect and the top defect class
    with its probability for every cell, OK ones too, so scores can be monitored.
    """

    row: int = Field(ge=1)
    col: int = Field(ge=1)
    cls: str = Field(pattern=CLASS_PATTERN)
    score: float = Field(ge=0.0, le=1.0)
    ng: bool
    box: Box
    defect_box: Box | None = None
    decision: CellDecision | None = None
    p_defect: float | None = Field(default=None, ge=0.0, le=1.0)
    top_class: str | None = Field(default=None, pattern=CLASS_PATTERN)
    top_score: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _decision_matches(self) -> CellResult:
        if self.decision is not None and (self.decision is CellDecision.NG) != self.ng:
            raise ValueError(f"cell {self.row},{self.col}: ng must be true exactly when the decision is NG")
        return self

    @property
    def effective_decision(self) -> CellDecision:
        """The decision, also for v1 cells (NG or OK)."""
        if self.decision is not None:
            return self.decision
        return CellDecision.NG if self.ng else CellDecision.OK


class ShadowCell(_Frozen):
    """The shadow model's triage of one cell."""

    row: int = Field(ge=1)
    col: int = Field(ge=1)
    decision: CellDecision
    p_defect: float = Field(ge=0.0, le=1.0)
    top_class: str = Field(pattern=CLASS_PATTERN)
    top_score: float = Field(ge=0.0, le=1.0)


class ShadowVerdict(_Frozen):
    """What the station's shadow model said about the same cells (v3); stored beside the result, not acted on."""

    model: ModelRef
    verdict: Verdict  # ERROR: the shadow model failed on this image (the live verdict is unaffected)
    error: str | None = Field(default=None, max_length=500)
    cells: list[ShadowCell] = Field(default_factory=list, max_length=320)
    ms: float = Field(default=0.0, ge=0.0)  # the shadow's preprocess + inference + decision time

    @model_validator(mode="after")
    def _consistent(self) -> ShadowVerdict:
        if (self.verdict is Verdict.ERROR) != bool(self.error):
            raise ValueError("a shadow ERROR says why (error), and only an ERROR does")
        ng = any(c.decision is CellDecision.NG for c in self.cells)
        review = any(c.decision is CellDecision.REVIEW for c in self.cells)
        if self.verdict is not Verdict.ERROR:
            expected = Verdict.NG if ng else Verdict.REVIEW if review else Verdict.OK
            if self.verdict is not expected:
                raise ValueError(f"shadow verdict {self.verdict} does not follow from its cells ({expected})")
        return self


class ResultEnvelope(_Frozen):
    """Everything the database needs to know about one inspected string image."""

    schema_version: Literal[1, 2, 3] = SCHEMA_VERSION
    result_id: str = Field(pattern=r"^[0-9a-f\-]{36}$")
    device_id: str = Field(pattern=DEVICE_PATTERN)
    station_id: str = Field(min_length=1, max_length=40)
    barcode: str = Field(pattern=BARCODE_PATTERN)
    string_position: int = Field(ge=1, le=64)
    stage: Stage = Stage.STRING_EL
    captured_at: AwareDatetime
    recipe: str = Field(min_length=1, max_length=60)
    grid: Grid
    model: ModelRef
    verdict: Verdict
    error: str | None = Field(default=None, max_length=500)
    cells: list[CellResult] = Field(default_factory=list, max_length=320)
    timings_ms: dict[str, float] = Field(default_factory=dict, max_length=20)
    image: ImageRef
    overlay_sha256: Sha256 | None = None
    shadow: ShadowVerdict | None = None  # v3 only

    @model_validator(mode="after")
    def _consistent(self) -> ResultEnvelope:
        expected = make_result_id(
            device_id=self.device_id,
            barcode=self.barcode,
            string_position=self.string_position,
            stage=self.stage,
            image_sha256=self.image.sha256,
        )
        if self.result_id != expected:
            raise ValueError("result_id does not match the capture it describes")
        any_ng = any(c.ng for c in self.cells)
        if self.schema_version == 1:
            if self.verdict is Verdict.REVIEW:
                raise ValueError("REVIEW needs schema_version 2")
            if any(c.decision is not None or c.p_defect is not None or c.top_class is not None for c in self.cells):
                raise ValueError("cell decisions and scores need schema_version 2")
        elif self.verdict is not Verdict.ERROR and any(c.decision is None or c.p_defect is None for c in self.cells):
            raise ValueError("a v2 judged result needs decision and p_defect on every cell")
        if self.verdict is Verdict.ERROR:
            if not self.error:
                raise ValueError("an ERROR result must say why (error)")
        else:
            if self.error:
                raise ValueError("only ERROR results carry an error")
            if len(self.cells) != self.grid.rows * self.grid.cols:
                raise ValueError("a judged result needs one entry per cell of the grid")
            if (self.verdict is Verdict.NG) != any_ng:
                raise ValueError("verdict NG if and only if some cell is NG")
            any_review = any(c.decision is CellDecision.REVIEW for c in self.cells)
            if not any_ng and (self.verdict is Verdict.REVIEW) != any_review:
                raise ValueError("verdict REVIEW if and only if no cell is NG and some cell is REVIEW")
        for c in self.cells:
            if c.row > self.grid.rows or c.col > self.grid.cols:
                raise ValueError(f"cell {c.row},{c.col} is outside grid {self.grid}")
        if len({(c.row, c.col) for c in self.cells}) != len(self.cells):
            raise ValueError("a cell appears more than once")
        if (self.shadow is not None) != (self.schema_version == SHADOW_VERSION):
            raise ValueError("a shadow verdict comes with schema_version 3, and schema_version 3 with a shadow verdict")
        judged_shadow = self.shadow is not None and self.shadow.verdict is not Verdict.ERROR
        if judged_shadow and {(c.row, c.col) for c in self.shadow.cells} != {(c.row, c.col) for c in self.cells}:  # type: ignore[union-attr]
            raise ValueError("the shadow verdict must judge the same cells as the live one")
        return self


def make_result_id(*, device_id: str, barcode: str, string_position: int, stage: str, image_sha256: str) -> str:
    """Deterministic id: the same capture judged twice (a restart) gives the same id."""
    key = "|".join([device_id, barcode, str(string_position), str(stage), image_sha256])
    return str(uuid.uuid5(_RESULT_NAMESPACE, key))


def canonical_json(envelope: ResultEnvelope) -> bytes:
    """Canonical bytes: sorted keys, no spaces, UTF-8; what the signature covers.

    v1 envelopes leave out the v2 cell fields, so a v1 result serialises as it always did.
    """
    data: dict[str, Any] = envelope.model_dump(mode="json")
    if envelope.schema_version < SHADOW_VERSION:
        data.pop("shadow", None)  # a v1 / v2 result serialises as it always did
    if envelope.schema_version == 1:
        for cell in data["cells"]:
            for key in ("decision", "p_defect", "top_class", "top_score"):
                cell.pop(key, None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
