"""Production context from the MES / ERP: products, work orders, material lots, shipments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import Base
from services.core.time import UTCDateTime, utcnow
from services.traceability.schemas import MaterialSource


class Product(Base):
    """A product series / recipe: cell format and string layout."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    series: Mapped[str] = mapped_column(String(40))
    cell_format: Mapped[str] = mapped_column(String(40))  # e.g. "210 half-cut HJT"
    grid_rows: Mapped[int] = mapped_column(SmallInteger)
    grid_cols: Mapped[int] = mapped_column(SmallInteger)
    strings: Mapped[int] = mapped_column(SmallInteger, default=6)


class WorkOrder(Base):
    """A production order: which product, on which line of which factory."""

    __tablename__ = "work_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    product_code: Mapped[str] = mapped_column(String(40), index=True)
    factory: Mapped[str] = mapped_column(String(40))
    line: Mapped[str] = mapped_column(String(40))
    planned_qty: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MaterialLot(Base):
    """A lot of consumed material (cell, glass, EVA / POE, ribbon, ...)."""

    __tablename__ = "material_lot"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    supplier: Mapped[str] = mapped_column(String(80), default="")


class ModuleMaterial(Base):
    """A lot consumed by a module (at build, or a replacement cell at rework)."""

    __tablename__ = "module_material"
    __table_args__ = (UniqueConstraint("module_id", "lot_id", name="uq_module_material_module_lot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("material_lot.id"), index=True)
    source: Mapped[str] = mapped_column(String(10), default=MaterialSource.BUILD)  # MaterialSource
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Shipment(Base):
    """A module delivered to a customer (from the ERP)."""

    __tablename__ = "shipment"
    __table_args__ = (Index("ix_shipment_customer_shipped", "customer", "shipped_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("module.id"), unique=True)
    customer: Mapped[str] = mapped_column(String(80))
    delivery_no: Mapped[str] = mapped_column(String(40), index=True)
    site: Mapped[str] = mapped_column(String(120), default="")
    shipped_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
