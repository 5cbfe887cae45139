"""Queries of the rework loop: loops, dispositions, holds, events, escapes (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session, aliased

from services.contracts import Stage, Verdict
from services.inspection.orm import CellDefect, Inspection, Module
from services.rework.orm import Disposition, Escape, ModuleHold, ReworkEvent, ReworkLoop
from services.rework.schemas import ACTIVE_LOOP_STATES, LoopState

# ---- results the loop reacts to ---------------------------------------------------------------


def unapplied_results(session: Session, result_ids: Collection[str]) -> Sequence[Row[Any]]:
    """The columns the loop needs of these stored results that no loop step has taken yet, oldest capture first."""
    stmt = (
        select(
            Inspection.id,
            Inspection.module_id,
            Inspection.string_position,
            Inspection.stage,
            Inspection.verdict,
            Inspection.captured_at,
            Inspection.station_code,
            Inspection.result_id,
        )
        .where(Inspection.result_id.in_(result_ids), Inspection.rework_applied_at.is_(None))
        .order_by(Inspection.captured_at, Inspection.id)
    )
    return session.execute(stmt).all()


def mark_applied(session: Session, inspection_ids: Collection[int], at: datetime) -> None:
    """Stamp results as taken by the loop step (idempotency: they are never applied again)."""
    if inspection_ids:
        session.execute(update(Inspection).where(Inspection.id.in_(inspection_ids)).values(rework_applied_at=at))


def ng_cells(session: Session, inspection_id: int) -> Sequence[Row[Any]]:
    """(row, col, cls) of an inspection's NG cells."""
    stmt = select(CellDefect.row, CellDefect.col, CellDefect.cls).where(
        CellDefect.inspection_id == inspection_id, CellDefect.ng.is_(True)
    )
    return session.execute(stmt).all()


def ng_cell_count(session: Session, inspection_id: int) -> int:
    """How many NG cells an inspection has."""
    stmt = select(func.count(CellDefect.id)).where(CellDefect.inspection_id == inspection_id, CellDefect.ng.is_(True))
    return int(session.scalar(stmt) or 0)


def last_judged_string_el(session: Session, module_id: int, string_position: int, *, until: datetime) -> Inspection | None:
    """The last judged (not ERROR) string EL image of a string captured up to `until`: the model's final word."""
    stmt = (
        select(Inspection)
        .where(
            Inspection.module_id == module_id,
            Inspection.string_position == string_position,
            Inspection.stage == Stage.STRING_EL,
            Inspection.verdict != Verdict.ERROR,
            Inspection.captured_at <= until,
        )
        .order_by(Inspection.captured_at.desc(), Inspection.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def cells_ever_flagged(session: Session, module_id: int, string_position: int) -> set[tuple[int, int]]:
    """(row, col) of every cell string EL ever called NG on this string."""
    stmt = (
        select(CellDefect.row, CellDefect.col)
        .join(Inspection, Inspection.id == CellDefect.inspection_id)
        .where(
            Inspection.module_id == module_id,
            Inspection.string_position == string_position,
            Inspection.stage == Stage.STRING_EL,
            CellDefect.ng.is_(True),
        )
    )
    return {(r, c) for r, c in session.execute(stmt).all()}


def final_el_passed(session: Session, module_id: int) -> bool:
    """Whether a final EL image of the module was OK."""
    stmt = (
        select(Inspection.id)
        .where(Inspection.module_id == module_id, Inspection.stage == Stage.FINAL_EL, Inspection.verdict == Verdict.OK)
        .limit(1)
    )
    return session.scalar(stmt) is not None


def model_version_of(session: Session, inspection_id: int) -> str:
    """The model version that judged an inspection."""
    return session.scalar(select(Inspection.model_version).where(Inspection.id == inspection_id)) or ""


def string_el_images(session: Session, module_id: int) -> Sequence[Inspection]:
    """A module's string EL images, oldest first."""
    stmt = (
        select(Inspection)
        .where(Inspection.module_id == module_id, Inspection.stage == Stage.STRING_EL)
        .order_by(Inspection.captured_at, Inspection.id)
    )
    return session.scalars(stmt).all()


def inspections_by_result_id(session: Session, result_ids: Collection[str]) -> dict[str, Inspection]:
    """Inspections by result id."""
    if not result_ids:
        return {}
    return {i.result_id: i for i in session.scalars(select(Inspection).where(Inspection.result_id.in_(result_ids)))}


def ng_defects_of(session: Session, inspection_ids: Collection[int]) -> Sequence[CellDefect]:
    """The NG cells of these inspections."""
    stmt = select(CellDefect).where(CellDefect.inspection_id.in_(inspection_ids), CellDefect.ng.is_(True))
    return session.scalars(stmt).all()


# ---- loops --------------------------------------------------------------------------------------


def active_strings(session: Session, module_ids: Collection[int]) -> set[tuple[int, int]]:
    """(module id, string position) pairs that have an active (open or repaired) loop."""
    stmt = select(ReworkLoop.module_id, ReworkLoop.string_position).where(
        ReworkLoop.module_id.in_(module_ids), ReworkLoop.state.in_(ACTIVE_LOOP_STATES)
    )
    return {(m, p) for m, p in session.execute(stmt).all()}


def last_loop_numbers(session: Session, module_ids: Collection[int]) -> dict[tuple[int, int], int]:
    """The highest loop number per (module id, string position)."""
    stmt = (
        select(ReworkLoop.module_id, ReworkLoop.string_position, func.max(ReworkLoop.loop_no))
        .where(ReworkLoop.module_id.in_(module_ids))
        .group_by(ReworkLoop.module_id, ReworkLoop.string_position)
    )
    return {(m, p): int(n) for m, p, n in session.execute(stmt).all()}


def active_loop(session: Session, module_id: int, string_position: int) -> ReworkLoop | None:
    """The string's active loop, if any."""
    stmt = (
        select(ReworkLoop)
        .where(
            ReworkLoop.module_id == module_id,
            ReworkLoop.string_position == string_position,
            ReworkLoop.state.in_(ACTIVE_LOOP_STATES),
        )
        .order_by(ReworkLoop.loop_no.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def loop_count(session: Session, module_id: int, string_position: int) -> int:
    """How many loops a string has had."""
    stmt = select(func.count(ReworkLoop.id)).where(
        ReworkLoop.module_id == module_id, ReworkLoop.string_position == string_position
    )
    return int(session.scalar(stmt) or 0)


def active_loop_count(session: Session, module_id: int) -> int:
    """How many loops of a module are still active."""
    stmt = select(func.count(ReworkLoop.id)).where(ReworkLoop.module_id == module_id, ReworkLoop.state.in_(ACTIVE_LOOP_STATES))
    return int(session.scalar(stmt) or 0)


def loop_for_update(session: Session, loop_id: int) -> ReworkLoop | None:
    """A loop, row-locked for a state change."""
    return session.get(ReworkLoop, loop_id, with_for_update=True)


def hold_active_loops(session: Session, module_id: int) -> None:
    """Every active loop of the module ends held (the module is scrapped)."""
    session.execute(
        update(ReworkLoop)
        .where(ReworkLoop.module_id == module_id, ReworkLoop.state.in_(ACTIVE_LOOP_STATES))
        .values(state=LoopState.HELD)
    )


def loops_of_module(session: Session, module_id: int) -> Sequence[Row[Any]]:
    """(loop, NG result id, retest result id) of every loop of a module, by string and loop number."""
    ng, rt = aliased(Inspection), aliased(Inspection)
    stmt = (
        select(ReworkLoop, ng.result_id, rt.result_id)
        .join(ng, ng.id == ReworkLoop.ng_inspection_id)
        .outerjoin(rt, rt.id == ReworkLoop.retest_inspection_id)
        .where(ReworkLoop.module_id == module_id)
        .order_by(ReworkLoop.string_position, ReworkLoop.loop_no)
    )
    return session.execute(stmt).all()


# ---- dispositions -------------------------------------------------------------------------------


def disposition_exists(session: Session, loop_id: int, defect_id: int) -> bool:
    """Whether a cell already has a disposition in this loop."""
    stmt = select(Disposition.id).where(Disposition.loop_id == loop_id, Disposition.defect_id == defect_id)
    return session.scalar(stmt) is not None


def last_disposition(session: Session, loop_id: int) -> Disposition | None:
    """The loop's most recent disposition."""
    stmt = select(Disposition).where(Disposition.loop_id == loop_id).order_by(Disposition.id.desc()).limit(1)
    return session.scalars(stmt).first()


def dispositions_of_loop(session: Session, loop_id: int) -> list[str]:
    """The disposition kinds recorded in a loop."""
    return list(session.scalars(select(Disposition.disposition).where(Disposition.loop_id == loop_id)).all())


def dispositions_of_loops(session: Session, loop_ids: Collection[int]) -> Sequence[Disposition]:
    """Dispositions of these loops, in the order they were taken."""
    if not loop_ids:
        return []
    stmt = select(Disposition).where(Disposition.loop_id.in_(loop_ids)).order_by(Disposition.at, Disposition.id)
    return session.scalars(stmt).all()


def lot_used_elsewhere(session: Session, module_id: int, lot_code: str, *, besides: int) -> bool:
    """Whether another disposition of the module's loops consumed the same cell lot."""
    stmt = (
        select(func.count(Disposition.id))
        .join(ReworkLoop, ReworkLoop.id == Disposition.loop_id)
        .where(ReworkLoop.module_id == module_id, Disposition.new_cell_lot == lot_code, Disposition.id != besides)
    )
    return bool(session.scalar(stmt))


# ---- holds, events, escapes ---------------------------------------------------------------------


def hold_for_update(session: Session, hold_id: int) -> ModuleHold | None:
    """A hold, row-locked for its decision."""
    return session.get(ModuleHold, hold_id, with_for_update=True)


def other_open_holds(session: Session, module_id: int, *, besides: int) -> int:
    """Undecided holds of the module other than `besides`."""
    stmt = select(func.count(ModuleHold.id)).where(
        ModuleHold.module_id == module_id, ModuleHold.decision.is_(None), ModuleHold.id != besides
    )
    return int(session.scalar(stmt) or 0)


def holds(session: Session, *, module_id: int | None, open_only: bool, limit: int) -> Sequence[Row[Any]]:
    """(hold, barcode), newest first."""
    stmt = select(ModuleHold, Module.barcode).join(Module, Module.id == ModuleHold.module_id)
    if module_id is not None:
        stmt = stmt.where(ModuleHold.module_id == module_id)
    if open_only:
        stmt = stmt.where(ModuleHold.decision.is_(None))
    return session.execute(stmt.order_by(ModuleHold.id.desc()).limit(limit)).all()


def count_open_holds(session: Session) -> int:
    """Holds waiting for a decision."""
    return int(session.scalar(select(func.count(ModuleHold.id)).where(ModuleHold.decision.is_(None))) or 0)


def events_of_module(session: Session, module_id: int) -> Sequence[ReworkEvent]:
    """A module's loop events in causal order (device clocks and the server clock differ)."""
    return session.scalars(select(ReworkEvent).where(ReworkEvent.module_id == module_id).order_by(ReworkEvent.id)).all()


def escapes_of_module(session: Session, module_id: int) -> Sequence[Row[Any]]:
    """(escape, later result id, later stage) of a module, oldest first."""
    stmt = (
        select(Escape, Inspection.result_id, Inspection.stage)
        .join(Inspection, Inspection.id == Escape.later_inspection_id)
        .where(Escape.module_id == module_id)
        .order_by(Escape.found_at)
    )
    return session.execute(stmt).all()
