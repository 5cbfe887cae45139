"""Read models of modules, inspections and defects."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


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


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int
