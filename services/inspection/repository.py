"""Queries on modules and inspections (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.core.errors import NotFound
from services.devices.orm import Device, Station
from services.imagestore.orm import StoredImage
from services.inspection.orm import CellDefect, Inspection, Module


def _line_stations(line: str) -> Select:  # type: ignore[type-arg]
    return select(Station.code).where(Station.line == line)


def _visible_modules(line: str) -> Select:  # type: ignore[type-arg]
    """Modules with at least one inspection at a station of `line` (object-level scope of an operator)."""
    return select(Inspection.module_id).where(Inspection.station_code.in_(_line_stations(line)))


def module_by_barcode(session: Session, barcode: str, *, line: str | None = None) -> Module | None:
    """The module with this barcode (None when outside the caller's line)."""
    stmt = select(Module).where(Module.barcode == barcode)
    if line is not None:
        stmt = stmt.where(Module.id.in_(_visible_modules(line)))
    return session.scalar(stmt)


def module_by_id(session: Session, module_id: int, *, for_update: bool = False) -> Module:
    """A module by id, optionally row-locked (NotFound when there is none)."""
    row = session.get(Module, module_id, with_for_update=for_update)
    if row is None:
        raise NotFound(f"no module {module_id}")
    return row


def defect_by_id(session: Session, defect_id: int) -> CellDefect | None:
    """A judged cell by id."""
    return session.get(CellDefect, defect_id)


def module_visible(session: Session, module_id: int, *, line: str) -> bool:
    """Whether a module is inside an operator's line (the same scope as module_by_barcode)."""
    return session.scalar(select(Module.id).where(Module.id == module_id, Module.id.in_(_visible_modules(line)))) is not None


def inspections_of_module(session: Session, module_id: int) -> Sequence[tuple[Inspection, str]]:
    """Inspections of a module, oldest first, with the device code."""
    stmt = (
        select(Inspection, Device.code)
        .join(Device, Device.id == Inspection.device_id)
        .where(Inspection.module_id == module_id)
        .order_by(Inspection.captured_at, Inspection.id)
    )
    return [(i, code) for i, code in session.execute(stmt).all()]


def defects_of(session: Session, inspection_ids: Sequence[int]) -> Sequence[CellDefect]:
    """Defects of several inspections, largest score first."""
    if not inspection_ids:
        return []
    stmt = select(CellDefect).where(CellDefect.inspection_id.in_(inspection_ids)).order_by(CellDefect.score.desc())
    return list(session.scalars(stmt))


def _filtered(
    stmt: Select, *, verdict: str | None, station: str | None, since: datetime | None, line: str | None = None
) -> Select:  # type: ignore[type-arg]
    if line is not None:
        stmt = stmt.where(Inspection.station_code.in_(_line_stations(line)))
    if verdict:
        stmt = stmt.where(Inspection.verdict == verdict)
    if station:
        stmt = stmt.where(Inspection.station_code == station)
    if since:
        stmt = stmt.where(Inspection.captured_at >= since)
    return stmt


def list_inspections(
    session: Session,
    *,
    offset: int,
    limit: int,
    verdict: str | None,
    station: str | None,
    since: datetime | None,
    line: str | None = None,
) -> tuple[Sequence[tuple[Inspection, str, str]], int]:
    """Newest inspections first, with barcode and device code, and the total count."""
    base = (
        select(Inspection, Module.barcode, Device.code)
        .join(Module, Module.id == Inspection.module_id)
        .join(Device, Device.id == Inspection.device_id)
    )
    stmt = _filtered(base, verdict=verdict, station=station, since=since, line=line)
    rows = session.execute(stmt.order_by(Inspection.captured_at.desc(), Inspection.id.desc()).offset(offset).limit(limit)).all()
    total = session.scalar(_filtered(select(func.count(Inspection.id)), verdict=verdict, station=station, since=since, line=line))
    return [(i, b, d) for i, b, d in rows], int(total or 0)


def list_modules(session: Session, *, offset: int, limit: int, line: str | None = None) -> tuple[Sequence[Module], int]:
    """Modules, newest first, and the total count."""
    stmt, count = select(Module), select(func.count(Module.id))
    if line is not None:
        stmt, count = stmt.where(Module.id.in_(_visible_modules(line))), count.where(Module.id.in_(_visible_modules(line)))
    rows = session.scalars(stmt.order_by(Module.id.desc()).offset(offset).limit(limit)).all()
    total = session.scalar(count)
    return rows, int(total or 0)


def confirmed_result_ids(session: Session, *, device_id: int, result_ids: Sequence[str]) -> set[str]:
    """Results of this device that are stored and whose image (if uploaded) is stored too."""
    if not result_ids:
        return set()
    stmt = (
        select(Inspection.result_id)
        .outerjoin(StoredImage, StoredImage.sha256 == Inspection.image_sha256)
        .where(
            Inspection.device_id == device_id,
            Inspection.result_id.in_(result_ids),
            (Inspection.image_uploaded.is_(False)) | (StoredImage.sha256.is_not(None)),
        )
    )
    return set(session.scalars(stmt))


def count_inspections(session: Session) -> int:
    """Number of stored inspections."""
    return int(session.scalar(select(func.count(Inspection.id))) or 0)


def all_result_ids(session: Session) -> set[str]:
    """Every stored result_id (tests and reconciliation)."""
    return set(session.scalars(select(Inspection.result_id)))


def image_visible(session: Session, sha256: str, *, line: str) -> bool:
    """Whether an image belongs to an inspection at a station of `line`."""
    stmt = select(Inspection.id).where(Inspection.image_sha256 == sha256, Inspection.station_code.in_(_line_stations(line)))
    return session.scalar(stmt.limit(1)) is not None
