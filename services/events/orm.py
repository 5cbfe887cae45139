"""The outbox, the subscribers, their dead letters and delivery log, and the delivery lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite auto-increments INTEGER PRIMARY KEY only


class OutboxEvent(Base):
    """One event, written in the transaction of the change it reports.

    seq is the insert order; position is given later by the deliverer's sequencer, in commit order
    (a row is sequenced only once it is visible), so `position > cursor` never skips a late commit.
    """

    __tablename__ = "event_outbox"
    __table_args__ = (
        Index(
            "ix_event_outbox_unsequenced", "seq", postgresql_where=text("position IS NULL"), sqlite_where=text("position IS NULL")
        ),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(64), index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)


class EventSubscriber(Base):
    """A webhook receiver: where, which types, its signing key id, and how far delivery has come."""

    __tablename__ = "event_subscriber"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    types: Mapped[list[str]] = mapped_column(JSON, default=list)
    batch_size: Mapped[int] = mapped_column(SmallInteger, default=100)
    timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # The secret is derived from the server secret and the key id: the database never holds it.
    key_id: Mapped[str] = mapped_column(String(20))
    previous_key_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    previous_key_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # every position <= cursor is delivered or dead-lettered
    delivered_total: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failures of the batch at the cursor
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventDeadLetter(Base):
    """An event a subscriber refused for good, kept for an admin to replay."""

    __tablename__ = "event_dead_letter"
    __table_args__ = (Index("ix_event_dead_letter_subscriber_replay", "subscriber_id", "replay_requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("event_subscriber.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    dead_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replay_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EventDeliveryLog(Base):
    """One HTTP attempt of the deliverer (pruned after a week)."""

    __tablename__ = "event_delivery_log"
    __table_args__ = (Index("ix_event_delivery_log_subscriber_at", "subscriber_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("event_subscriber.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_position: Mapped[int] = mapped_column(BigInteger)
    last_position: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(Integer)
    status: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class EventLease(Base):
    """Which deliverer process sequences and delivers now (one at a time keeps the commit order)."""

    __tablename__ = "event_lease"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
