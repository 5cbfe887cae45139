"""Event types, CloudEvents framing and what the events API shows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

SPEC_VERSION = "1.0"
SEQUENCE_DIGITS = 16  # CloudEvents `sequence` is a string compared lexicographically: zero-padded position


class EventType(StrEnum):
    """Every event eltrace publishes (reverse-DNS CloudEvents types; the subject is a barcode or a case number)."""

    RESULT_STORED = "com.eltrace.result.stored"
    LOOP_OPENED = "com.eltrace.loop.opened"
    LOOP_REPAIRED = "com.eltrace.loop.repaired"
    LOOP_CLOSED = "com.eltrace.loop.closed"
    LOOP_FAILED = "com.eltrace.loop.failed"
    LOOP_HELD = "com.eltrace.loop.held"
    HOLD_PLACED = "com.eltrace.hold.placed"
    HOLD_DECIDED = "com.eltrace.hold.decided"
    ESCAPE_FOUND = "com.eltrace.escape.found"
    COMPLAINT_RECEIVED = "com.eltrace.complaint.received"
    COMPLAINT_JUDGED = "com.eltrace.complaint.judged"
    CASE_OPENED = "com.eltrace.8d.opened"
    DISCIPLINE_COMPLETED = "com.eltrace.8d.discipline.completed"
    CASE_CLOSED = "com.eltrace.8d.closed"
    CASE_REOPENED = "com.eltrace.8d.reopened"
    GATE_BLOCKED = "com.eltrace.gate.blocked"
    SHIPMENT_FLAGGED = "com.eltrace.shipment.flagged"


class SubscriberCreate(BaseModel):
    """A webhook receiver an admin registers."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
    url: HttpUrl
    types: list[EventType] = Field(default_factory=list, description="empty: every type")
    batch_size: int = Field(default=100, ge=1, le=1000)
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class SubscriberUpdate(BaseModel):
    """What an admin may change on a subscriber."""

    url: HttpUrl | None = None
    types: list[EventType] | None = None
    batch_size: int | None = Field(default=None, ge=1, le=1000)
    timeout_s: float | None = Field(default=None, gt=0, le=60)


class SubscriberRead(BaseModel):
    """A subscriber as the admin sees it (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    url: str
    types: list[str]
    batch_size: int
    timeout_s: float
    paused: bool
    key_id: str
    cursor: int
    delivered_total: int
    attempts: int
    failing_since: datetime | None
    next_at: datetime | None
    last_error: str | None
    lag: int = 0
    dead_letters: int = 0


class SubscriberSecret(BaseModel):
    """Shown once, at creation and at each rotation."""

    subscriber: SubscriberRead
    key_id: str
    secret: str
    previous_key_valid_until: datetime | None = None


class DeadLetterRead(BaseModel):
    """An event a subscriber refused for good (or that failed past the give-up time)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    position: int
    type: str
    subject: str
    reason: str
    status: int | None
    dead_at: datetime
    replay_requested_at: datetime | None
    replayed_at: datetime | None


class DeliveryLogRead(BaseModel):
    """One HTTP delivery attempt."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    first_position: int
    last_position: int
    events: int
    status: int | None
    ms: float
    error: str | None


class FeedPage(BaseModel):
    """A page of the pull feed: events after the cursor, in commit order, and the cursor to ask with next."""

    events: list[dict[str, Any]]
    next: str
