"""What the quality figures take: PPM definition versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class PpmGroup(StrEnum):
    """What a PPM table may be broken down by."""

    CUSTOMER = "customer"
    PRODUCT = "product"
    FACTORY = "factory"


PPM_GROUPS = tuple(PpmGroup)


class NumeratorStatus(StrEnum):
    """Which complaints count: only justified ones, or open ones too (not yet judged)."""

    JUSTIFIED = "justified"
    JUSTIFIED_OR_OPEN = "justified_or_open"


class DenominatorWindow(StrEnum):
    """Modules shipped in the same month, or in the trailing 12 months."""

    SAME_PERIOD = "same_period"
    TRAILING_12_MONTHS = "trailing_12_months"


class Attribution(StrEnum):
    """A complaint counts in the month it was received, or in its modules' shipment month (cohort)."""

    COMPLAINT_DATE = "complaint_date"
    SHIPMENT_COHORT = "shipment_cohort"


class DefinitionCreate(BaseModel):
    """A new version of the PPM definition (what counts, over which window, attributed how)."""

    model_config = ConfigDict(extra="forbid")

    numerator_status: NumeratorStatus
    denominator_window: DenominatorWindow
    attribution: Attribution
    note: str = Field(default="", max_length=500)


class DefinitionRead(BaseModel):
    """One version of the PPM definition."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    numerator_status: str
    denominator_window: str
    attribution: str
    note: str
    created_by: str
    created_at: datetime
