"""PPM inputs that must stay fast: versioned definitions and the monthly shipment roll-up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow


class PpmDefinition(Base):
    """How complaint PPM is counted; each figure names the version that made it."""

    __tablename__ = "ppm_definition"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    numerator_status: Mapped[str] = mapped_column(String(20))  # justified | justified_or_open
    denominator_window: Mapped[str] = mapped_column(String(20))  # same_period | trailing_12_months
    attribution: Mapped[str] = mapped_column(String(20))  # complaint_date | shipment_cohort
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShipmentMonth(Base):
    """Modules shipped per month x customer x product x factory (kept with every shipment import)."""

    __tablename__ = "shipment_month"
    __table_args__ = (UniqueConstraint("month", "customer", "product_code", "factory", name="uq_shipment_month_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM (UTC)
    customer: Mapped[str] = mapped_column(String(80))
    product_code: Mapped[str] = mapped_column(String(40))
    factory: Mapped[str] = mapped_column(String(40))
    shipped: Mapped[int] = mapped_column(BigInteger, default=0)
