"""The rework loop: loops per module string, operator dispositions, holds, events, escapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow
from services.rework.schemas import LoopState


class ReworkLoop(Base):
    """One pass NG -> repair -> re-inspection of one string of a module.

    state: open (dispositions pending) -> repaired (awaiting re-inspection) -> closed (retest OK)
    | failed (retest NG: loop n+1 or hold) | held (a defect was not repairable).
    """

    __tablename__ = "rework_loop"
    __table_args__ = (
        UniqueConstraint("module_id", "string_position", "loop_no", name="uq_rework_loop_module_string_loop"),
        Index("ix_rework_loop_state", "state"),
        Index("ix_rework_loop_opened_at", "opened_at"),
        Index("ix_rework_loop_repaired_at", "repaired_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"))
    string_position: Mapped[int] = mapped_column(SmallInteger)
    loop_no: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[str] = mapped_column(String(10), default=LoopState.OPEN)  # LoopState
    ng_inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    retest_inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspection.id"), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    repaired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    repaired_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    repair_station: Mapped[str | None] = mapped_column(String(40), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Disposition(Base):
    """The operator's word on one NG cell of a loop's NG image."""

    __tablename__ = "disposition"
    __table_args__ = (UniqueConstraint("loop_id", "defect_id", name="uq_disposition_loop_defect"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loop_id: Mapped[int] = mapped_column(ForeignKey("rework_loop.id"))
    defect_id: Mapped[int] = mapped_column(ForeignKey("cell_defect.id"))
    cls: Mapped[str] = mapped_column(String(40))
    model_version: Mapped[str] = mapped_column(String(50))
    disposition: Mapped[str] = mapped_column(String(16))  # DispositionKind
    repair_code: Mapped[str | None] = mapped_column(String(30), nullable=True)
    new_cell_lot: Mapped[str | None] = mapped_column(String(60), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ModuleHold(Base):
    """A module held for a quality engineer's decision (scrap / downgrade / use as is)."""

    __tablename__ = "module_hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # HoldSource
    reason: Mapped[str] = mapped_column(String(500))
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(12), nullable=True)  # HoldOutcome
    decision_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    deviation_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReworkEvent(Base):
    """Every transition of the loop, with who, when and where."""

    __tablename__ = "rework_event"
    __table_args__ = (Index("ix_rework_event_module_at", "module_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"))
    loop_id: Mapped[int | None] = mapped_column(ForeignKey("rework_loop.id"), nullable=True)
    string_position: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Escape(Base):
    """A defect found at a later EL stage in a cell that string EL passed: a measured miss."""

    __tablename__ = "escape"
    __table_args__ = (UniqueConstraint("later_inspection_id", "row", "col", name="uq_escape_later_inspection_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"), index=True)
    string_position: Mapped[int] = mapped_column(SmallInteger)
    row: Mapped[int] = mapped_column(SmallInteger)
    col: Mapped[int] = mapped_column(SmallInteger)
    cls: Mapped[str] = mapped_column(String(40))
    string_inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    later_inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id"))
    model_version: Mapped[str] = mapped_column(String(50))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
