"""Queries of drift watch: the floor's word on the cells of images captured in a window (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.inspection.orm import CellDefect, Inspection
from services.rework.orm import Disposition, Escape

# A label comes after its image: reading labels from a day before the window on (edge clocks may run ahead)
# lets the indexes on disposition.at and escape.found_at cut the join to the window's labels.
_SKEW = timedelta(days=1)


def dispositions(
    session: Session, since: datetime, until: datetime, station: str | None
) -> Sequence[tuple[datetime, str, str, str]]:
    """(captured_at, station, model version, disposition) of every disposition of a cell imaged in [since, until)."""
    stmt = (
        select(Inspection.captured_at, Inspection.station_code, Inspection.model_version, Disposition.disposition)
        .join(CellDefect, CellDefect.id == Disposition.defect_id)
        .join(Inspection, Inspection.id == CellDefect.inspection_id)
        .where(Disposition.at >= since - _SKEW, Inspection.captured_at >= since, Inspection.captured_at < until)
    )
    if station:
        stmt = stmt.where(Inspection.station_code == station)
    return [(at, st, v, d) for at, st, v, d in session.execute(stmt)]


def escapes(session: Session, since: datetime, until: datetime, station: str | None) -> Sequence[tuple[datetime, str, str]]:
    """(captured_at, station, model version) of the string EL image of every escape in a cell imaged in [since, until)."""
    stmt = (
        select(Inspection.captured_at, Inspection.station_code, Inspection.model_version)
        .join(Escape, Escape.string_inspection_id == Inspection.id)
        .where(Escape.found_at >= since - _SKEW, Inspection.captured_at >= since, Inspection.captured_at < until)
    )
    if station:
        stmt = stmt.where(Inspection.station_code == station)
    return [(at, st, v) for at, st, v in session.execute(stmt)]
