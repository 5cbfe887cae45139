"""Metadata of the images held by the content-addressed store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow


class StoredImage(Base):
    """One blob in the image store, keyed by its sha256."""

    __tablename__ = "stored_image"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(50))
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
