"""Queries for floor labels (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.inspection.orm import CellDefect, Inspection, Module
from services.rework.orm import Disposition, Escape, ReworkLoop


def dispositions(session: Session, since: datetime | None, until: datetime | None) -> Sequence[Row[Any]]:
    """Every disposition in [since, until) with its cell, image and module, oldest first."""
    stmt = (
        select(
            Disposition, CellDefect, Inspection.image_sha256, Inspection.station_code, Module.barcode, ReworkLoop.string_position
        )
        .join(CellDefect, CellDefect.id == Disposition.defect_id)
        .join(Inspection, Inspection.id == CellDefect.inspection_id)
        .join(Module, Module.id == Inspection.module_id)
        .join(ReworkLoop, ReworkLoop.id == Disposition.loop_id)
    )
    if since:
        stmt = stmt.where(Disposition.at >= since)
    if until:
        stmt = stmt.where(Disposition.at < until)
    return session.execute(stmt.order_by(Disposition.at, Disposition.id)).all()


def escapes(session: Session, since: datetime | None, until: datetime | None) -> Sequence[Row[Any]]:
    """Every escape found in [since, until) with the string EL image that passed the cell, oldest first."""
    stmt = (
        select(Escape, Inspection.image_sha256, Inspection.station_code, Module.barcode)
        .join(Inspection, Inspection.id == Escape.string_inspection_id)
        .join(Module, Module.id == Escape.module_id)
    )
    if since:
        stmt = stmt.where(Escape.found_at >= since)
    if until:
        stmt = stmt.where(Escape.found_at < until)
    return session.execute(stmt.order_by(Escape.found_at, Escape.id)).all()


def shadowed_images(session: Session, station: str, since: datetime | None, until: datetime | None) -> Sequence[Row[Any]]:
    """Images of a station judged with a shadow model in [since, until) (capture time), oldest first."""
    stmt = select(
        Inspection.image_sha256,
        Inspection.verdict,
        Inspection.model_version,
        Inspection.cell_scores,
        Inspection.shadow,
        Inspection.timings_ms,
    ).where(Inspection.station_code == station, Inspection.shadow_version.is_not(None))
    if since:
        stmt = stmt.where(Inspection.captured_at >= since)
    if until:
        stmt = stmt.where(Inspection.captured_at < until)
    return session.execute(stmt.order_by(Inspection.captured_at, Inspection.id)).all()
