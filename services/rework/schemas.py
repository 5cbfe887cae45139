"""Read models of the rework loop (station view, loops, holds, events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class DispositionRead(BaseModel):
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


StationState = Literal["NG", "RETEST", "REVIEW", "HOLD", "OK", "ERROR", "NONE", "SCRAPPED"]


class StationView(BaseModel):
    """What the rework station shows for a scanned barcode."""

    barcode: str
    status: str
    grade: str
    state: StationState
    message: str
    loop_limit: int
    max_loop_no: int
    strings: list[StringImage]
    defects: list[LoopDefect]
    history: list[LoopRead] = Field(default_factory=list)  # every loop of the module, oldest first


class HoldRead(BaseModel):
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
    kind: str
    string_position: int | None
    loop_id: int | None
    actor: str
    station: str
    at: datetime
    detail: dict[str, Any]


class EscapeRead(BaseModel):
    string_position: int
    row: int
    col: int
    cls: str
    model_version: str
    found_at: datetime
    later_result_id: str
    stage: str
