"""Queries on modules and inspections (SQLAlchemy 2 select())."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Select, delete, func, select, update
from sqlalchemy.orm import Session

from services.core.errors import NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.core.upsert import insert_add, insert_ignore
from services.devices.orm import Device, Station
from services.imagestore.orm import StoredImage
from services.inspection.orm import CellDefect, FirstPassDay, Inspection, Module, RefusedResult, ScoreDay, ShiftPattern


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
        raise NotFound(N_("no module %(id)s"), id=module_id)
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
    stmt: Select,
    *,
    verdict: str | None,
    station: str | None,
    since: datetime | None,
    line: str | None = None,
    until: datetime | None = None,
) -> Select:  # type: ignore[type-arg]
    if line is not None:
        stmt = stmt.where(Inspection.station_code.in_(_line_stations(line)))
    if verdict:
        stmt = stmt.where(Inspection.verdict == verdict)
    if station:
        stmt = stmt.where(Inspection.station_code == station)
    if since:
        stmt = stmt.where(Inspection.captured_at >= since)
    if until:
        stmt = stmt.where(Inspection.captured_at < until)
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
    until: datetime | None = None,
) -> tuple[Sequence[tuple[Inspection, str, str]], int]:
    """Newest inspections first, with barcode and device code, and the total count."""
    base = (
        select(Inspection, Module.barcode, Device.code)
        .join(Module, Module.id == Inspection.module_id)
        .join(Device, Device.id == Inspection.device_id)
    )
    f = {"verdict": verdict, "station": station, "since": since, "line": line, "until": until}
    stmt = _filtered(base, **f)  # type: ignore[arg-type]
    rows = session.execute(stmt.order_by(Inspection.captured_at.desc(), Inspection.id.desc()).offset(offset).limit(limit)).all()
    total = session.scalar(_filtered(select(func.count(Inspection.id)), **f))  # type: ignore[arg-type]
    return [(i, b, d) for i, b, d in rows], int(total or 0)


def latest_capture(session: Session, *, line: str | None = None) -> datetime | None:
    """When the newest inspection was captured (of `line`'s stations when given)."""
    stmt = _filtered(select(func.max(Inspection.captured_at)), verdict=None, station=None, since=None, line=line)
    return session.scalar(stmt)


def list_modules(session: Session, *, offset: int, limit: int, line: str | None = None) -> tuple[Sequence[Module], int]:
    """Modules, newest first, and the total count."""
    stmt, count = select(Module), select(func.count(Module.id))
    if line is not None:
        stmt, count = stmt.where(Module.id.in_(_visible_modules(line))), count.where(Module.id.in_(_visible_modules(line)))
    rows = session.scalars(stmt.order_by(Module.id.desc()).offset(offset).limit(limit)).all()
    total = session.scalar(count)
    return rows, int(total or 0)


def stored_with_images(
    session: Session, *, device_id: int, result_ids: Sequence[str]
) -> Sequence[tuple[str, str | None, int | None]]:
    """(result_id, image sha256, stored size) of this device's stored results whose image is stored too.

    sha256 and size are None for a result that carried no image to upload.
    """
    if not result_ids:
        return []
    stmt = (
        select(Inspection.result_id, Inspection.image_uploaded, StoredImage.sha256, StoredImage.size_bytes)
        .outerjoin(StoredImage, StoredImage.sha256 == Inspection.image_sha256)
        .where(
            Inspection.device_id == device_id,
            Inspection.result_id.in_(result_ids),
            (Inspection.image_uploaded.is_(False)) | (StoredImage.sha256.is_not(None)),
        )
    )
    return [(rid, sha if uploaded else None, size if uploaded else None) for rid, uploaded, sha, size in session.execute(stmt)]


def record_refusals(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Remember dead-lettered results (device_id, result_id, stream_id, reason) for their edge."""
    if rows:
        session.execute(RefusedResult.__table__.insert(), [{**r, "refused_at": utcnow()} for r in rows])


def refusals(session: Session, *, device_id: int, result_ids: Sequence[str]) -> Sequence[tuple[str, str, str | None, str]]:
    """(result_id, stream_id, key_id, reason) of this device's refused results among these ids, newest last."""
    if not result_ids:
        return []
    stmt = (
        select(RefusedResult.result_id, RefusedResult.stream_id, RefusedResult.key_id, RefusedResult.reason)
        .where(RefusedResult.device_id == device_id, RefusedResult.result_id.in_(result_ids))
        .order_by(RefusedResult.id)
    )
    return [(a, b, c, d) for a, b, c, d in session.execute(stmt)]


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


def shift_patterns(session: Session) -> Sequence[ShiftPattern]:
    """The plant's daily shift pattern, by start time."""
    return session.scalars(select(ShiftPattern).order_by(ShiftPattern.start_minute)).all()


def replace_shift_patterns(session: Session, patterns: Sequence[ShiftPattern]) -> None:
    """The new daily pattern replaces the old one."""
    session.execute(delete(ShiftPattern))
    session.add_all(patterns)


# ---- writes of one ingest batch -------------------------------------------------------------------


def ensure_modules(session: Session, barcodes: Sequence[str], *, created_at: datetime) -> dict[str, int]:
    """Create the modules not seen before (concurrent batches may race: duplicates are ignored); ids by barcode."""
    session.execute(
        insert_ignore(session, Module.__table__, ["barcode"]), [{"barcode": b, "created_at": created_at} for b in barcodes]
    )
    return {b: mid for b, mid in session.execute(select(Module.barcode, Module.id).where(Module.barcode.in_(barcodes))).all()}


def insert_inspections(session: Session, rows: list[dict[str, object]]) -> list[tuple[int, str]]:
    """Insert inspection rows, skipping result_ids already stored; (id, result_id) of those inserted."""
    if session.get_bind().dialect.name == "postgresql":
        return _copy_insert_inspections(session, rows)
    stmt = insert_ignore(session, Inspection.__table__, ["result_id"]).returning(
        Inspection.__table__.c.id, Inspection.__table__.c.result_id
    )
    return [(int(r[0]), str(r[1])) for r in session.execute(stmt, rows).all()]


def insert_defects(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert the judged non-OK cells of new inspections."""
    if rows:
        session.execute(CellDefect.__table__.insert(), rows)


_COPY_COLUMNS = [c.name for c in Inspection.__table__.columns if c.name != "id"]
_JSON_COLUMNS = {c.name for c in Inspection.__table__.columns if isinstance(c.type, JSON)}  # sent as JSON text


def _copy_insert_inspections(session: Session, rows: list[dict[str, object]]) -> list[tuple[int, str]]:
    """PostgreSQL: COPY the batch into a temporary table, then one INSERT ... SELECT ... ON CONFLICT.

    A 1,000-row multi-VALUES statement has 24,000 placeholders that the driver parses in Python
    on every batch; COPY streams the rows and roughly halves the time per batch (see bench ingest).
    """
    cols = ", ".join(f'"{c}"' for c in _COPY_COLUMNS)
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ingest_inspection ON COMMIT DELETE ROWS AS "
            f"SELECT {cols} FROM inspection WITH NO DATA"
        )
        with cur.copy(f"COPY ingest_inspection ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_json_or_none(row[c]) if c in _JSON_COLUMNS else row[c] for c in _COPY_COLUMNS])
        cur.execute(
            f"INSERT INTO inspection ({cols}) SELECT {cols} FROM ingest_inspection "
            "ON CONFLICT (result_id) DO NOTHING RETURNING id, result_id"
        )
        inserted = [(int(r[0]), str(r[1])) for r in cur.fetchall()]
        cur.execute("TRUNCATE ingest_inspection")  # the same connection may run the next batch in this transaction
    return inserted


def _json_or_none(value: object) -> str | None:
    return None if value is None else json.dumps(value)


def stored_summaries(session: Session, result_ids: Sequence[str]) -> dict[str, tuple[str, str, int, datetime]]:
    """result_id -> (verdict, model sha256, NG cells, capture time) of stored results."""
    if not result_ids:
        return {}
    stmt = select(
        Inspection.result_id, Inspection.verdict, Inspection.model_sha256, Inspection.ng_cells, Inspection.captured_at
    ).where(Inspection.result_id.in_(result_ids))
    return {rid: (v, m, int(n), at) for rid, v, m, n, at in session.execute(stmt)}


FirstLook = tuple[int, datetime, str, str | None, str]  # id, captured_at, station, shift, verdict


def first_looks(session: Session, module_ids: Sequence[int]) -> tuple[dict[tuple[int, int], FirstLook], dict[int, FirstLook]]:
    """The stored first-pass image of each string of these modules, and each module's first image."""
    strings: dict[tuple[int, int], FirstLook] = {}
    modules: dict[int, FirstLook] = {}
    if not module_ids:
        return strings, modules
    stmt = select(
        Inspection.id,
        Inspection.module_id,
        Inspection.string_position,
        Inspection.captured_at,
        Inspection.station_code,
        Inspection.shift,
        Inspection.verdict,
        Inspection.first_of_module,
    ).where(Inspection.module_id.in_(module_ids), Inspection.first_pass.is_(True))
    for i, m, p, at, st, sh, v, first_of_module in session.execute(stmt):
        look = (int(i), at, st, sh, v)
        strings[(int(m), int(p))] = look
        if first_of_module:
            modules[int(m)] = look
    return strings, modules


def demote_first_looks(session: Session, *, strings: Sequence[int], modules: Sequence[int]) -> None:
    """Images that an earlier capture, arriving later, replaced as their string's (module's) first."""
    if strings:
        session.execute(update(Inspection).where(Inspection.id.in_(strings)).values(first_pass=False))
    if modules:
        session.execute(update(Inspection).where(Inspection.id.in_(modules)).values(first_of_module=False))


def add_first_pass(session: Session, counts: Sequence[dict[str, object]]) -> None:
    """Add first-pass strings / modules to the daily roll-up (day, station_code, shift, verdict, strings, modules)."""
    if counts:
        t = FirstPassDay.__table__
        session.execute(insert_add(session, t, ["day", "station_code", "shift", "verdict"], ["strings", "modules"]), counts)


def first_pass_images(
    session: Session, *, after_id: int, limit: int
) -> Sequence[tuple[int, datetime, str, str | None, str, bool]]:
    """(id, captured_at, station, shift, verdict, first_of_module) of first-pass images, in id order from after_id."""
    stmt = (
        select(
            Inspection.id,
            Inspection.captured_at,
            Inspection.station_code,
            Inspection.shift,
            Inspection.verdict,
            Inspection.first_of_module,
        )
        .where(Inspection.first_pass.is_(True), Inspection.id > after_id)
        .order_by(Inspection.id)
        .limit(limit)
    )
    return [(int(i), at, st, sh, v, bool(f)) for i, at, st, sh, v, f in session.execute(stmt)]


def prune_first_pass_days(session: Session) -> None:
    """Drop roll-up rows a moved first look left at zero."""
    session.execute(delete(FirstPassDay).where(FirstPassDay.strings == 0, FirstPassDay.modules == 0))


def clear_first_pass_days(session: Session) -> None:
    """Empty the daily roll-up (before recounting it)."""
    session.execute(delete(FirstPassDay))


def add_score_days(session: Session, counts: Sequence[dict[str, object]]) -> None:
    """Add cells to the daily score roll-up (day, station_code, model_version, decision, bin, cells)."""
    if counts:
        t = ScoreDay.__table__
        keys = ["day", "station_code", "model_version", "decision", "bin"]
        session.execute(insert_add(session, t, keys, ["cells"]), counts)


def score_days(
    session: Session, first_day: str, last_day: str, station: str | None
) -> Sequence[tuple[str, str, str, str, int, int]]:
    """(day, station, model version, decision, bin, cells) of the roll-up for plant days first_day..last_day."""
    stmt = select(
        ScoreDay.day, ScoreDay.station_code, ScoreDay.model_version, ScoreDay.decision, ScoreDay.bin, ScoreDay.cells
    ).where(ScoreDay.day >= first_day, ScoreDay.day <= last_day)
    if station:
        stmt = stmt.where(ScoreDay.station_code == station)
    return [(d, st, v, dec, int(b), int(n)) for d, st, v, dec, b, n in session.execute(stmt)]


def judged_images(session: Session, *, after_id: int, limit: int) -> Sequence[tuple[int, datetime, str, str, Any]]:
    """(id, captured_at, station, model version, cell_scores) of string EL images with cell scores, in id order from after_id."""
    stmt = (
        select(Inspection.id, Inspection.captured_at, Inspection.station_code, Inspection.model_version, Inspection.cell_scores)
        .where(Inspection.stage == "string_el", Inspection.cell_scores.is_not(None), Inspection.id > after_id)
        .order_by(Inspection.id)
        .limit(limit)
    )
    return [(int(i), at, st, v, cs) for i, at, st, v, cs in session.execute(stmt)]


def clear_score_days(session: Session) -> None:
    """Empty the daily score roll-up (before recounting it)."""
    session.execute(delete(ScoreDay))
