"""Customer complaints, their modules and attachments, and the 8D cases that answer them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.complaints.schemas import CaseStatus, DisciplineStatus
from services.core.db import Base
from services.core.time import UTCDateTime, utcnow


class EightDCase(Base):
    """One 8D problem-solving case (for one complaint or several with the same problem)."""

    __tablename__ = "eight_d_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=CaseStatus.OPEN)  # CaseStatus
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # D0-D3 all completed
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reopened_count: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(64))


class Discipline(Base):
    """D0..D8 of a case: owner, due date, status and the discipline's fields."""

    __tablename__ = "discipline"
    __table_args__ = (UniqueConstraint("case_id", "code", name="uq_discipline_case_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("eight_d_case.id"))
    code: Mapped[str] = mapped_column(String(2))  # D0 .. D8
    status: Mapped[str] = mapped_column(String(10), default=DisciplineStatus.OPEN)  # DisciplineStatus
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Complaint(Base):
    """A customer's complaint about modules in the field."""

    __tablename__ = "complaint"
    __table_args__ = (Index("ix_complaint_received", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer: Mapped[str] = mapped_column(String(80), index=True)
    project: Mapped[str] = mapped_column(String(120), default="")
    site: Mapped[str] = mapped_column(String(120), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(20))
    symptom: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text)
    justified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: not judged yet
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    judged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    judgement_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("eight_d_case.id"), nullable=True, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ComplaintModule(Base):
    """A barcode named in a complaint; module_id is NULL when traceability does not know it."""

    __tablename__ = "complaint_module"
    __table_args__ = (UniqueConstraint("complaint_id", "barcode", name="uq_complaint_module_complaint_barcode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"))
    barcode: Mapped[str] = mapped_column(String(64))
    module_id: Mapped[int | None] = mapped_column(ForeignKey("module.id"), nullable=True, index=True)


class Attachment(Base):
    """A photo, field EL image or document of a complaint (bytes in the blob store, by sha256)."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Sequence(Base):
    """Human-readable numbers (C-2026-0001, 8D-2026-0001) without gaps or races (row lock)."""

    __tablename__ = "number_sequence"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
