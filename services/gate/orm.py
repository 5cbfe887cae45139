"""Every BLOCK the gate answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow


class GateBlock(Base):
    """A module the gate stopped: which operation, why, who asked."""

    __tablename__ = "gate_block"
    __table_args__ = (Index("ix_gate_block_barcode_at", "barcode", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    barcode: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    asked_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
