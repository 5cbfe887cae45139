"""A labelled cell of a stored string EL image, and where the label came from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class LabelSource(StrEnum):
    """Whose word the label is."""

    FALSE_CALL = "false_call"  # an operator looked: the flagged cell is OK
    REPAIRED = "repaired"  # an operator confirmed the defect and repaired it
    NOT_REPAIRABLE = "not_repairable"  # confirmed, and beyond repair
    ESCAPE = "escape"  # string EL passed the cell; a later EL stage found the defect
    REVIEW = "review"  # an EL operator looked at a cell the model was unsure of: a defect (its class) or OK


OK = "ok"  # the label of a cell without a defect


class FloorLabel(BaseModel):
    """One cell with its label: image sha256 + cell box + label + source + who + when + the model that judged it."""

    image_sha256: str
    barcode: str
    string_position: int
    station: str
    row: int
    col: int
    box: list[int] | None  # x, y, w, h in the image; None where only the grid position is known (an escape)
    label: str  # OK or a defect class
    model_class: str | None  # what the model called the cell (None: it passed it)
    source: LabelSource
    by: str
    at: datetime
    model_version: str
