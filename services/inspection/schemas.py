"""Read models of modules, inspections and defects."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ModuleStatus(StrEnum):
    """Where a module is: WIP -> STOCK (final EL OK) -> SHIPPED; HOLD while a quality engineer decides; SCRAPPED."""

    WIP = "WIP"
    STOCK = "STOCK"
    HOLD = "HOLD"
    SHIPPED = "SHIPPED"
    SCRAPPED = "SCRAPPED"


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DefectRead(_Read):
    row: int
    col: int
    cls: str
    score: float
    ng: bool
    decision: str = "NG"  # OK (tolerated by the severity rules) / REVIEW / NG
    p_defect: float | None = None
    box: list[int]
    defect_box: list[int] | None


class InspectionRead(_Read):
    result_id: str
    barcode: str
    device: str
    station: str
    string_position: int
    stage: str
    captured_at: datetime
    shift: str | None = None
    received_at: datetime
    recipe: str
    grid: str
    model_name: str
    model_version: str
    model_sha256: str
    verdict: str
    error: str | None
    ng_cells: int
    review_cells: int = 0
    schema_version: int = 1
    image_sha256: str
    image_width: int | None = None
    image_height: int | None = None
    overlay_sha256: str | None
    timings_ms: dict[str, float]
    defects: list[DefectRead] | None = None


class ModuleRead(_Read):
    barcode: str
    created_at: datetime
    latest_verdict_by_string: dict[int, str]
    inspections: list[InspectionRead]


class ModuleSummary(BaseModel):
    """A module in a listing."""

    model_config = ConfigDict(from_attributes=True)

    barcode: str
    created_at: datetime


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class ShiftIn(BaseModel):
    """One shift of the plant's calendar, local wall-clock times."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9]{1,10}$")
    start: str = Field(pattern=HHMM)
    end: str = Field(pattern=HHMM)


class ShiftCalendarIO(BaseModel):
    """The plant's shift calendar as people read and write it (must cover 24 h exactly once)."""

    model_config = ConfigDict(extra="forbid")

    utc_offset_minutes: int = Field(ge=-840, le=840)
    shifts: list[ShiftIn] = Field(min_length=1, max_length=6)
