"""What the review station shows and what it takes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from services.contracts.result import CLASS_PATTERN


class ReviewDecision(StrEnum):
    """An operator's word on one REVIEW cell."""

    DEFECT = "DEFECT"
    OK = "OK"


class ReviewCell(BaseModel):
    """One cell the model was unsure of, with the operator's pending word on it (if any)."""

    defect_id: int
    row: int
    col: int
    box: list[int]
    defect_box: list[int] | None
    model_cls: str
    p_defect: float | None
    score: float
    decision: ReviewDecision | None = None
    cls: str | None = None
    by: str | None = None
    at: datetime | None = None


class QueueItem(BaseModel):
    """A REVIEW string image waiting for an operator."""

    result_id: str
    barcode: str
    station: str
    string_position: int
    stage: str
    captured_at: datetime
    review_cells: int
    decided: int
    age_s: int
    overdue: bool


class ReviewQueue(BaseModel):
    """The queue of one station (or all), oldest first, with its length and age."""

    station: str | None
    total: int
    overdue: int
    oldest_s: int | None
    overdue_after_s: int
    items: list[QueueItem]


class ReviewString(BaseModel):
    """The image under review: where it is, the picture and every cell to decide."""

    result_id: str
    barcode: str
    station: str
    string_position: int
    stage: str
    captured_at: datetime
    grid: str
    model_version: str
    image_sha256: str
    image_uploaded: bool
    width: int | None
    height: int | None
    cells: list[ReviewCell]


class ReviewDone(BaseModel):
    """A completed review: what the image became."""

    result_id: str
    barcode: str
    string_position: int
    verdict: str
    defects: int
    cleared: int
    by: str
    at: datetime


class CellWord(BaseModel):
    """One cell's decision in an API review."""

    defect_id: int = Field(ge=1, le=2**31 - 1)
    decision: ReviewDecision
    cls: str | None = Field(
        default=None, pattern=CLASS_PATTERN, description="the defect class (DEFECT only; default: the model's)"
    )


class ReviewCreate(BaseModel):
    """A whole image reviewed in one call: every REVIEW cell's decision."""

    station: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
    cells: list[CellWord] = Field(min_length=1, max_length=320)
