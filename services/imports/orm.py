"""Single MES messages, kept so a resent message is answered, not applied twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow


class MesMessage(Base):
    """One message a MES client posted: its own id, what it carried (sha256), and how it landed."""

    __tablename__ = "mes_message"
    __table_args__ = (UniqueConstraint("source", "kind", "mes_id", name="uq_mes_message_source_kind_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))  # the MES client's device code
    kind: Mapped[str] = mapped_column(String(20))  # ImportKind
    mes_id: Mapped[str] = mapped_column(String(100))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))  # imported | unchanged | flagged
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
