"""Review decisions per cell, and the completed review of a string image."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow


class CellReview(Base):
    """An EL operator's word on one REVIEW cell: a defect (of a class) or OK.

    Pending while its image has no StringReview (the operator may still change or take it back);
    final once the review of the image is completed.
    """

    __tablename__ = "cell_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    defect_id: Mapped[int] = mapped_column(ForeignKey("cell_defect.id", ondelete="CASCADE"), unique=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(6))  # ReviewDecision
    cls: Mapped[str] = mapped_column(String(40))  # the class the operator confirmed ("ok" for OK)
    model_cls: Mapped[str] = mapped_column(String(40))  # what the model called it
    model_version: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StringReview(Base):
    """A REVIEW image whose review is complete: it became NG (some cell confirmed) or OK (all cleared)."""

    __tablename__ = "string_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id", ondelete="CASCADE"), unique=True)
    verdict: Mapped[str] = mapped_column(String(6))  # NG or OK (the model's was REVIEW)
    defects: Mapped[int] = mapped_column(SmallInteger)  # cells confirmed as defects
    cleared: Mapped[int] = mapped_column(SmallInteger)  # cells found OK
    actor: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wait_s: Mapped[int] = mapped_column()  # capture -> completed review: how long the string waited
