"""Queries of the EL review (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from services.contracts import CellDecision, Verdict
from services.devices.orm import Station
from services.inspection.orm import CellDefect, Inspection, Module
from services.review.orm import CellReview, StringReview


def _not_superseded() -> Any:
    """No later image of the same module string at the same stage (a re-imaged string is judged anew)."""
    later = aliased(Inspection)
    return ~exists().where(
        and_(
            later.module_id == Inspection.module_id,
            later.string_position == Inspection.string_position,
            later.stage == Inspection.stage,
            later.captured_at > Inspection.captured_at,
        )
    )


def queue(
    session: Session, *, station: str | None, line: str | None, limit: int, overdue_before: datetime
) -> tuple[Sequence[Row[Any]], int, int, datetime | None]:
    """(rows, total, overdue, oldest capture) of REVIEW images waiting, oldest first; rows: Inspection, barcode, decided."""
    decided = select(func.count(CellReview.id)).where(CellReview.inspection_id == Inspection.id).scalar_subquery()
    where = [Inspection.verdict == Verdict.REVIEW, _not_superseded()]
    if station:
        where.append(Inspection.station_code == station)
    if line:
        where.append(Inspection.station_code.in_(select(Station.code).where(Station.line == line)))
    stmt = (
        select(Inspection, Module.barcode, decided)
        .join(Module, Module.id == Inspection.module_id)
        .where(*where)
        .order_by(Inspection.captured_at, Inspection.id)
        .limit(limit)
    )
    late = func.count(Inspection.id).filter(Inspection.captured_at < overdue_before)
    total, overdue, oldest = session.execute(
        select(func.count(Inspection.id), late, func.min(Inspection.captured_at)).where(*where)
    ).one()
    return session.execute(stmt).all(), int(total or 0), int(overdue or 0), oldest


def inspection(session: Session, result_id: str, *, for_update: bool = False) -> tuple[Inspection, str] | None:
    """The stored image with this result_id and its barcode (row-locked on PostgreSQL when asked)."""
    stmt = (
        select(Inspection, Module.barcode)
        .join(Module, Module.id == Inspection.module_id)
        .where(Inspection.result_id == result_id)
    )
    if for_update:
        stmt = stmt.with_for_update(of=Inspection)
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def superseded(session: Session, insp: Inspection) -> bool:
    """Whether the string was imaged again (same stage) after this image."""
    stmt = select(Inspection.id).where(
        Inspection.module_id == insp.module_id,
        Inspection.string_position == insp.string_position,
        Inspection.stage == insp.stage,
        Inspection.captured_at > insp.captured_at,
    )
    return session.scalar(stmt.limit(1)) is not None


def review_cells(session: Session, inspection_id: int) -> list[CellDefect]:
    """The cells of an image the model sent to review (decision REVIEW when stored), by position."""
    stmt = (
        select(CellDefect)
        .where(CellDefect.inspection_id == inspection_id, CellDefect.id.in_(_reviewable(inspection_id)))
        .order_by(CellDefect.row, CellDefect.col, CellDefect.id)
    )
    return list(session.scalars(stmt))


def _reviewable(inspection_id: int) -> Any:
    """Cells still REVIEW, or already reviewed (a completed review rewrote their decision)."""
    reviewed = select(CellReview.defect_id).where(CellReview.inspection_id == inspection_id)
    still = select(CellDefect.id).where(CellDefect.inspection_id == inspection_id, CellDefect.decision == CellDecision.REVIEW)
    return still.union(reviewed)


def cell_reviews(session: Session, inspection_id: int) -> dict[int, CellReview]:
    """The decisions taken on an image's cells, by cell id."""
    return {r.defect_id: r for r in session.scalars(select(CellReview).where(CellReview.inspection_id == inspection_id))}


def last_cell_review(session: Session, inspection_id: int) -> CellReview | None:
    """The most recent decision on an image."""
    stmt = (
        select(CellReview).where(CellReview.inspection_id == inspection_id).order_by(CellReview.at.desc(), CellReview.id.desc())
    )
    return session.scalar(stmt.limit(1))


def string_review(session: Session, inspection_id: int) -> StringReview | None:
    """The completed review of an image (None while pending)."""
    return session.scalar(select(StringReview).where(StringReview.inspection_id == inspection_id))


def reviewed_cells(session: Session, since: datetime | None, until: datetime | None) -> Sequence[Row[Any]]:
    """Final cell decisions (their image's review completed in [since, until)) with cell, image and module, oldest first."""
    stmt = (
        select(
            CellReview, CellDefect, Inspection.image_sha256, Inspection.station_code, Module.barcode, Inspection.string_position
        )
        .join(StringReview, StringReview.inspection_id == CellReview.inspection_id)
        .join(CellDefect, CellDefect.id == CellReview.defect_id)
        .join(Inspection, Inspection.id == CellReview.inspection_id)
        .join(Module, Module.id == Inspection.module_id)
    )
    if since:
        stmt = stmt.where(StringReview.at >= since)
    if until:
        stmt = stmt.where(StringReview.at < until)
    return session.execute(stmt.order_by(StringReview.at, CellReview.id)).all()
