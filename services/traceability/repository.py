"""Queries on production context: products, work orders, material lots, shipments (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.traceability.orm import MaterialLot, ModuleMaterial, Product, Shipment, WorkOrder


def work_order(session: Session, work_order_id: int | None) -> WorkOrder | None:
    """The work order by id (None for a module built outside any)."""
    return session.get(WorkOrder, work_order_id) if work_order_id else None


def product_by_code(session: Session, code: str | None) -> Product | None:
    """The product master row of a product code."""
    return session.scalar(select(Product).where(Product.code == code)) if code else None


def lots_of_module(session: Session, module_id: int) -> Sequence[tuple[ModuleMaterial, MaterialLot]]:
    """The material lots built into a module, by kind."""
    stmt = (
        select(ModuleMaterial, MaterialLot)
        .join(MaterialLot, MaterialLot.id == ModuleMaterial.lot_id)
        .where(ModuleMaterial.module_id == module_id)
        .order_by(MaterialLot.kind, ModuleMaterial.id)
    )
    return [(mm, lot) for mm, lot in session.execute(stmt).all()]


def shipment_of_module(session: Session, module_id: int) -> Shipment | None:
    """The module's shipment, if it left the factory."""
    return session.scalar(select(Shipment).where(Shipment.module_id == module_id))


def lot_by_code(session: Session, code: str) -> MaterialLot | None:
    """A material lot by its code."""
    return session.scalar(select(MaterialLot).where(MaterialLot.code == code))


def module_lot_link(session: Session, module_id: int, lot_id: int, *, source: str | None = None) -> ModuleMaterial | None:
    """The record that a lot is built into a module (of one source, when given)."""
    stmt = select(ModuleMaterial).where(ModuleMaterial.module_id == module_id, ModuleMaterial.lot_id == lot_id)
    if source is not None:
        stmt = stmt.where(ModuleMaterial.source == source)
    return session.scalar(stmt)
