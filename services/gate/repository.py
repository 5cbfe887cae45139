"""The few indexed reads behind one gate answer (a fixed number of queries per module)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from services.contracts import Stage
from services.inspection.orm import Inspection, Module
from services.rework.orm import ModuleHold, ReworkLoop
from services.rework.schemas import ACTIVE_LOOP_STATES
from services.traceability.orm import Product


def module(session: Session, barcode: str) -> Row[Any] | None:
    """(id, status, product code) of a module."""
    return session.execute(select(Module.id, Module.status, Module.product_code).where(Module.barcode == barcode)).first()


def recipe_strings(session: Session, product_code: str | None) -> int | None:
    """How many strings the module's product has (None: product unknown)."""
    if not product_code:
        return None
    return session.scalar(select(Product.strings).where(Product.code == product_code))


def inspections(session: Session, module_id: int) -> Sequence[Row[Any]]:
    """(stage, string position, verdict, captured at) of every inspection, oldest first."""
    stmt = (
        select(Inspection.stage, Inspection.string_position, Inspection.verdict, Inspection.captured_at)
        .where(Inspection.module_id == module_id)
        .order_by(Inspection.captured_at, Inspection.id)
    )
    return session.execute(stmt).all()


def active_loops(session: Session, module_id: int) -> list[int]:
    """String positions with an active rework loop."""
    stmt = select(ReworkLoop.string_position).where(ReworkLoop.module_id == module_id, ReworkLoop.state.in_(ACTIVE_LOOP_STATES))
    return sorted(session.scalars(stmt).all())


def open_hold_reason(session: Session, module_id: int) -> str | None:
    """The reason of the module's undecided hold."""
    stmt = (
        select(ModuleHold.reason)
        .where(ModuleHold.module_id == module_id, ModuleHold.decided_at.is_(None))
        .order_by(ModuleHold.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def last_hold_decided_at(session: Session, module_id: int) -> datetime | None:
    """When a quality engineer last decided a hold of the module."""
    return session.scalar(select(func.max(ModuleHold.decided_at)).where(ModuleHold.module_id == module_id))


STRING_EL = Stage.STRING_EL.value
