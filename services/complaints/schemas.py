"""Complaints and 8D cases: their vocabularies, what customer service submits, what the pages and the report read."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CASE_NUMBER = r"^8D-\d{4}-\d{4,6}$"
COMPLAINT_NUMBER = r"^C-\d{4}-\d{4,6}$"


class Channel(StrEnum):
    """How the complaint reached us."""

    EMAIL = "email"
    PHONE = "phone"
    PORTAL = "portal"
    VISIT = "visit"
    DISTRIBUTOR = "distributor"


class Symptom(StrEnum):
    """What the customer sees in the field."""

    POWER_LOSS = "power_loss"
    HOT_SPOT = "hot_spot"
    CELL_CRACK = "cell_crack"
    SNAIL_TRAIL = "snail_trail"
    DELAMINATION = "delamination"
    PID = "pid"
    BROKEN_GLASS = "broken_glass"
    JUNCTION_BOX = "junction_box"
    FRAME = "frame"
    VISUAL = "visual"
    OTHER = "other"


class Severity(StrEnum):
    """How bad it is for the customer."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class CaseStatus(StrEnum):
    """An 8D case is worked while open; D8 closes it; a recurrence reopens it."""

    OPEN = "open"
    CLOSED = "closed"


class DisciplineStatus(StrEnum):
    """A discipline is open until completed (reopening the case reopens D4..D8)."""

    OPEN = "open"
    COMPLETED = "completed"


class AttachmentRead(BaseModel):
    """A photo, field EL image or PDF on a complaint."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class ComplaintRead(BaseModel):
    """One complaint with its barcodes, attachments and case."""

    number: str
    customer: str
    project: str
    site: str
    received_at: datetime
    channel: str
    symptom: str
    severity: str
    description: str
    justified: bool | None
    judgement_reason: str | None
    judged_by: str | None
    case: str | None
    barcodes: list[str]
    unknown_barcodes: list[str]
    attachments: list[AttachmentRead]
    created_by: str
    created_at: datetime


class FieldRead(BaseModel):
    """A field of a discipline's form."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    label: str
    kind: str
    required: bool


class DisciplineRead(BaseModel):
    """One discipline (D0..D8) of a case, with what still blocks its completion."""

    code: str
    title: str
    status: str
    owner: str | None
    due_at: datetime
    overdue: bool
    completed_at: datetime | None
    completed_by: str | None
    approved_by: str | None
    fields: list[FieldRead]
    data: dict[str, Any]
    missing: list[str]


class CaseSummary(BaseModel):
    """An 8D case in a list."""

    number: str
    title: str
    status: str
    opened_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    next_open: str | None
    next_due_at: datetime | None
    overdue: list[str]
    owners: list[str]
    complaints: list[str]


class CaseRead(CaseSummary):
    """An 8D case to work on."""

    reopened_count: int
    created_by: str
    disciplines: list[DisciplineRead]


class EvidenceRow(BaseModel):
    """One complained module as the 8D report lists it: where it came from, what string EL said, where it went."""

    barcode: str
    known: bool
    product: str | None
    work_order: str | None
    string_el: str
    stations: str
    shifts: str
    customer: str | None
    shipped_at: datetime | None


class ComplaintCreate(BaseModel):
    """A customer's complaint as customer service takes it."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=80)
    project: str = Field(default="", max_length=120)
    site: str = Field(default="", max_length=120)
    received_at: AwareDatetime
    channel: Channel
    symptom: Symptom
    severity: Severity
    description: str = Field(min_length=1, max_length=10_000)
    barcodes: list[str] = Field(min_length=1, max_length=5000)
    case: str | None = Field(default=None, pattern=CASE_NUMBER, description="join this open 8D case instead of starting one")


class ComplaintCreated(BaseModel):
    """The complaint opened, and the barcodes traceability does not know."""

    complaint: ComplaintRead
    unknown_barcodes: list[str]


class Judgement(BaseModel):
    """Justified or not, after analysis (only justified complaints count in PPM)."""

    model_config = ConfigDict(extra="forbid")

    justified: bool
    reason: str = Field(min_length=3, max_length=500)


class DisciplineUpdate(BaseModel):
    """Fields (merged), owner or due date of an open discipline."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] | None = None
    owner: str | None = Field(default=None, max_length=64)
    due_at: AwareDatetime | None = None


class Reopen(BaseModel):
    """Why a closed case opens again (recurrence)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)


class Link(BaseModel):
    """The open 8D case a complaint joins."""

    model_config = ConfigDict(extra="forbid")

    case: str = Field(pattern=CASE_NUMBER)
