"""What the rework loop takes (dispositions, holds, decisions) and shows (station view, loops, holds, events)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.core.i18n import Note

STATION_CODE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$"
LOT_CODE = r"^[A-Za-z0-9][A-Za-z0-9._/\-]{0,59}$"


class LoopState(StrEnum):
    """A rework loop: open (NG cells to disposition) -> repaired (back to EL) -> closed | failed | held."""

    OPEN = "open"
    REPAIRED = "repaired"
    CLOSED = "closed"
    FAILED = "failed"
    HELD = "held"


ACTIVE_LOOP_STATES = (LoopState.OPEN, LoopState.REPAIRED)


class DispositionKind(StrEnum):
    """The operator's word on one flagged cell."""

    REPAIRED = "repaired"
    FALSE_CALL = "false_call"
    NOT_REPAIRABLE = "not_repairable"


class RepairCode(StrEnum):
    """What was done to a repaired cell (REPLACE_CELL also needs the new cell's lot, scanned)."""

    REPLACE_CELL = "REPLACE_CELL"
    RESOLDER = "RESOLDER"
    CLEAN = "CLEAN"


class HoldSource(StrEnum):
    """Why a module went on hold."""

    MANUAL = "manual"
    CONTAINMENT = "containment"
    LOOP_LIMIT = "loop_limit"
    NOT_REPAIRABLE = "not_repairable"


class HoldOutcome(StrEnum):
    """How a quality engineer ends a hold (release is not offered after a loop limit or a not-repairable cell)."""

    SCRAP = "scrap"
    DOWNGRADE = "downgrade"
    USE_AS_IS = "use_as_is"
    RELEASE = "release"


class StationState(StrEnum):
    """What the rework station's state banner says for a scanned module."""

    NG = "NG"
    RETEST = "RETEST"
    REVIEW = "REVIEW"
    HOLD = "HOLD"
    OK = "OK"
    ERROR = "ERROR"
    NONE = "NONE"
    SCRAPPED = "SCRAPPED"


class EventKind(StrEnum):
    """What happened in a module's rework history."""

    LOOP_OPENED = "loop_opened"
    RETEST_REFUSED = "retest_refused"
    RETEST_ERROR = "retest_error"
    RETEST_REVIEW = "retest_review"
    RETEST_NG = "retest_ng"
    LOOP_CLOSED = "loop_closed"
    LOOP_HELD = "loop_held"
    REPAIR_RECORDED = "repair_recorded"
    DISPOSITION = "disposition"
    DISPOSITION_UNDONE = "disposition_undone"
    HOLD_PLACED = "hold_placed"
    HOLD_DECIDED = "hold_decided"
    LATER_STAGE_FLAG = "later_stage_flag"
    ESCAPE = "escape"


class DispositionRead(BaseModel):
    """One operator disposition."""

    model_config = ConfigDict(from_attributes=True)

    defect_id: int
    disposition: str
    repair_code: str | None
    new_cell_lot: str | None
    actor: str
    station: str
    at: datetime


class LoopDefect(BaseModel):
    """One NG cell of a loop's image, as the operator sees it."""

    loop_id: int
    defect_id: int
    string_position: int
    row: int
    col: int
    cls: str
    score: float
    box: list[int]
    defect_box: list[int] | None
    area: int
    disposition: DispositionRead | None = None


class LoopRead(BaseModel):
    """One rework loop of a string."""

    id: int
    string_position: int
    loop_no: int
    state: str
    opened_at: datetime
    repaired_at: datetime | None
    repaired_by: str | None
    repair_station: str | None
    closed_at: datetime | None
    ng_result_id: str
    retest_result_id: str | None
    dispositions: list[DispositionRead] = Field(default_factory=list)


class StringImage(BaseModel):
    """The image the operator should look at for one string (the loop's NG image, else the latest)."""

    string_position: int
    result_id: str
    verdict: str
    stage: str
    error: str | None
    image_sha256: str
    width: int | None
    height: int | None
    loop: LoopRead | None


class StationView(BaseModel):
    """What the rework station shows for a scanned barcode."""

    barcode: str
    status: str
    grade: str
    state: StationState
    message: str  # the notes in English (the API's JSON)
    notes: list[Note] = Field(default_factory=list)  # the same, for the pages to say in the reader's language
    loop_limit: int
    max_loop_no: int
    strings: list[StringImage]
    defects: list[LoopDefect]
    history: list[LoopRead] = Field(default_factory=list)  # every loop of the module, oldest first


class HoldRead(BaseModel):
    """A hold and, once made, its decision."""

    id: int
    barcode: str
    source: str
    reason: str
    placed_by: str
    placed_at: datetime
    decision: str | None
    decision_reason: str | None
    deviation_no: str | None
    decided_by: str | None
    decided_at: datetime | None


class EventRead(BaseModel):
    """One step of a module's rework history."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    string_position: int | None
    loop_id: int | None
    actor: str
    station: str
    at: datetime
    detail: dict[str, Any]


class EscapeRead(BaseModel):
    """A defect a later EL stage found in a cell string EL passed."""

    string_position: int
    row: int
    col: int
    cls: str
    model_version: str
    found_at: datetime
    later_result_id: str
    stage: str


class DispositionCreate(BaseModel):
    """The operator's word on one NG (or confirmed REVIEW) cell."""

    model_config = ConfigDict(extra="forbid")

    defect_id: int = Field(ge=1)
    disposition: DispositionKind
    repair_code: RepairCode | None = None
    new_cell_lot: str | None = Field(default=None, max_length=60, pattern=LOT_CODE)
    station: Annotated[str, Field(pattern=STATION_CODE)]


class HoldCreate(BaseModel):
    """Hold a module by hand."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)


class HoldDecision(BaseModel):
    """How a quality engineer ends a hold."""

    model_config = ConfigDict(extra="forbid")

    decision: HoldOutcome
    reason: str = Field(min_length=3, max_length=500)
    deviation_no: str | None = Field(default=None, max_length=40)
