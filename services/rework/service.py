"""The rework loop state machine: NG opens a loop, dispositions repair it, re-inspection closes it.

Transitions (per module string):
  NG string EL result, no active loop        -> loop n opened (state open)
  REVIEW result                              -> nothing until the EL review completes it as NG or OK
  every NG cell dispositioned                -> repaired (awaiting re-inspection)
    ... any cell not repairable              -> held (module HOLD)
  re-inspection of a repaired loop: OK       -> closed
                                    NG       -> failed; loop n+1 opened, or module HOLD past the limit
  re-inspection of an open loop              -> refused as a loop step (interlock: no repair recorded)
  later-stage result while HOLD / open loop  -> flagged
  later-stage NG cell that string EL passed  -> escape
Services never commit; the caller (ingest batch, request) owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.contracts import Stage, Verdict
from services.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.events.schemas import EventType
from services.events.service import emit
from services.inspection import repository as inspection_repo
from services.inspection.repository import module_visible
from services.inspection.schemas import ModuleStatus
from services.rework import repository as repo
from services.rework.orm import Disposition, Escape, ModuleHold, ReworkEvent, ReworkLoop
from services.rework.schemas import (
    ACTIVE_LOOP_STATES,
    LOT_CODE,
    DispositionKind,
    EventKind,
    HoldOutcome,
    HoldSource,
    LoopState,
    RepairCode,
)
from services.traceability import repository as traceability_repo
from services.traceability.orm import MaterialLot, ModuleMaterial
from services.traceability.schemas import LotKind, MaterialSource

DISPOSITIONS = tuple(DispositionKind)
REPAIR_CODES = tuple(RepairCode)
HOLD_DECISIONS = tuple(HoldOutcome)


class StoredResult(Protocol):
    """The columns of a stored inspection the loop needs (an ORM row or a selected row)."""

    id: int
    module_id: int
    string_position: int
    stage: str
    verdict: str
    captured_at: datetime
    station_code: str
    result_id: str


def _event(
    session: Session,
    *,
    module_id: int,
    kind: str,
    actor: str,
    station: str,
    at: datetime | None = None,
    loop: ReworkLoop | None = None,
    string_position: int | None = None,
    **detail: object,
) -> None:
    event = ReworkEvent(
        module_id=module_id,
        loop_id=loop.id if loop else None,
        string_position=loop.string_position if loop else string_position,
        kind=kind,
        actor=actor,
        station=station,
        at=at or utcnow(),
        detail=detail,
    )
    session.add(event)
    published = PUBLISHED_KINDS.get(kind)  # type: ignore[call-overload]  # a StrEnum key matches its str value
    if published is not None:
        barcode = inspection_repo.module_by_id(session, module_id).barcode
        data: dict[str, object] = {
            "barcode": barcode,
            "string_position": event.string_position,
            "loop_no": loop.loop_no if loop else None,
            "station": station,
            "actor": actor,
            **{k: (v.value if isinstance(v, StrEnum) else v) for k, v in detail.items()},
        }
        emit(session=session, type=published, subject=barcode, data=data, at=event.at)


# Rework history entries other systems hear about (the rest stay in the module's history).
PUBLISHED_KINDS: dict[EventKind, EventType] = {
    EventKind.LOOP_OPENED: EventType.LOOP_OPENED,
    EventKind.REPAIR_RECORDED: EventType.LOOP_REPAIRED,
    EventKind.LOOP_CLOSED: EventType.LOOP_CLOSED,
    EventKind.RETEST_NG: EventType.LOOP_FAILED,
    EventKind.LOOP_HELD: EventType.LOOP_HELD,
    EventKind.HOLD_PLACED: EventType.HOLD_PLACED,
    EventKind.HOLD_DECIDED: EventType.HOLD_DECIDED,
    EventKind.ESCAPE: EventType.ESCAPE_FOUND,
}


def _open_loop(session: Session, insp: StoredResult, loop_no: int, actor: str) -> ReworkLoop:
    loop = ReworkLoop(
        module_id=insp.module_id,
        string_position=insp.string_position,
        loop_no=loop_no,
        state=LoopState.OPEN,
        ng_inspection_id=insp.id,
        opened_at=insp.captured_at,
    )
    session.add(loop)
    session.flush()
    _event(
        session,
        module_id=insp.module_id,
        kind=EventKind.LOOP_OPENED,
        actor=actor,
        station=insp.station_code,
        at=insp.captured_at,
        loop=loop,
    )
    return loop


def _hold(session: Session, module_id: int, *, source: str, reason: str, actor: str, station: str) -> ModuleHold | None:
    """Put a module on hold unless it already is (or is scrapped / shipped); returns the new hold."""
    module = inspection_repo.module_by_id(session, module_id)
    if module.status in (ModuleStatus.HOLD, ModuleStatus.SCRAPPED, ModuleStatus.SHIPPED):
        return None
    hold = ModuleHold(module_id=module_id, source=source, reason=reason, placed_by=actor)
    session.add(hold)
    before = module.status
    module.status = ModuleStatus.HOLD
    session.flush()
    _event(session, module_id=module_id, kind=EventKind.HOLD_PLACED, actor=actor, station=station, source=source, reason=reason)
    audit(
        session=session,
        actor=actor,
        action="hold.place",
        entity="module",
        entity_id=module.barcode,
        before={"status": before},
        after={"status": ModuleStatus.HOLD, "source": source},
        reason=reason,
    )
    return hold


def apply_results(*, session: Session, result_ids: Sequence[str], loop_limit: int) -> None:
    """Run the loop for stored results not yet applied (same transaction as the insert, oldest capture first).

    Idempotent on its own: each result is stamped when applied, so passing it again (a redelivery, a
    replay, a caller that hands over every id of a batch) moves no loop twice.
    """
    if not result_ids:
        return
    rows = repo.unapplied_results(session, result_ids)
    if not rows:
        return
    repo.mark_applied(session, [r.id for r in rows], utcnow())
    # Ingest batches are 1,000 results: a fixed number of queries per batch, not per result. Only strings
    # that already have an active loop (few) take the per-result path below.
    module_ids = {r.module_id for r in rows}
    busy = repo.active_strings(session, module_ids)
    ng_modules = {r.module_id for r in rows if r.verdict == Verdict.NG}
    last_loop = repo.last_loop_numbers(session, ng_modules) if ng_modules else {}
    opened: list[tuple[ReworkLoop, StoredResult]] = []
    for insp in rows:
        actor = f"device:{insp.station_code}"
        pair = (insp.module_id, insp.string_position)
        if insp.stage == Stage.STRING_EL and pair not in busy:
            if insp.verdict == Verdict.NG:  # the common NG: a fresh loop, written with the batch
                loop = ReworkLoop(
                    module_id=insp.module_id,
                    string_position=insp.string_position,
                    loop_no=last_loop.get(pair, 0) + 1,
                    state=LoopState.OPEN,
                    ng_inspection_id=insp.id,
                    opened_at=insp.captured_at,
                )
                session.add(loop)
                opened.append((loop, insp))
                busy.add(pair)
            continue
        _announce(session, opened)
        if insp.stage == Stage.STRING_EL:
            _string_el_result(session, insp, loop_limit=loop_limit, actor=actor)
        else:
            _later_stage_result(session, insp, actor=actor)
    _announce(session, opened)


def apply_review(*, session: Session, inspection: StoredResult, loop_limit: int, actor: str) -> None:
    """Run the loop for a REVIEW image an EL review completed (now NG or OK), as if it had arrived so."""
    if inspection.stage == Stage.STRING_EL:
        _string_el_result(session, inspection, loop_limit=loop_limit, actor=actor)
    else:
        _later_stage_result(session, inspection, actor=actor)


def _announce(session: Session, opened: list[tuple[ReworkLoop, StoredResult]]) -> None:
    """Flush loops opened in this batch and record their loop_opened events."""
    if not opened:
        return
    session.flush()
    for loop, insp in opened:
        _event(
            session,
            module_id=insp.module_id,
            kind=EventKind.LOOP_OPENED,
            actor=f"device:{insp.station_code}",
            station=insp.station_code,
            at=insp.captured_at,
            loop=loop,
        )
    opened.clear()


def _string_el_result(session: Session, insp: StoredResult, *, loop_limit: int, actor: str) -> None:
    # Flushed first: an earlier result of this batch may have closed or failed the loop in memory only
    # (autoflush is off), and a backlog drained after an outage holds several results of one string.
    session.flush()
    loop = repo.active_loop(session, insp.module_id, insp.string_position)
    station = insp.station_code
    if loop is None:
        if insp.verdict == Verdict.NG:
            _open_loop(session, insp, repo.loop_count(session, insp.module_id, insp.string_position) + 1, actor)
        return
    if insp.id == loop.ng_inspection_id:
        return
    active = loop

    def step(kind: EventKind, **detail: object) -> None:
        """The loop's event for this retest image."""
        _event(
            session,
            module_id=insp.module_id,
            kind=kind,
            actor=actor,
            station=station,
            at=insp.captured_at,
            loop=active,
            result_id=insp.result_id,
            **detail,
        )

    if loop.state == LoopState.OPEN:
        # Interlock: without a recorded repair an image is not a loop step (it may be a double scan).
        step(EventKind.RETEST_REFUSED, why="no repair recorded for this loop")
        return
    if insp.verdict == Verdict.ERROR:
        step(EventKind.RETEST_ERROR, why="image could not be judged; loop waits for a judgeable retest")
        return
    if insp.verdict == Verdict.REVIEW:
        # Neither pass nor fail until an EL operator confirms the doubtful cells: the loop stays repaired.
        step(EventKind.RETEST_REVIEW, why="retest has cells for EL review; loop waits for the review")
        return
    loop.retest_inspection_id = insp.id
    loop.closed_at = insp.captured_at
    if insp.verdict == Verdict.OK:
        loop.state = LoopState.CLOSED
        step(EventKind.LOOP_CLOSED)
        return
    loop.state = LoopState.FAILED
    step(EventKind.RETEST_NG)
    if loop.loop_no >= loop_limit:
        _hold(
            session,
            insp.module_id,
            source=HoldSource.LOOP_LIMIT,
            actor=actor,
            station=station,
            reason=f"string {insp.string_position} still NG after {loop.loop_no} rework loops (limit {loop_limit})",
        )
    else:
        _open_loop(session, insp, loop.loop_no + 1, actor)


def _later_stage_result(session: Session, insp: StoredResult, *, actor: str) -> None:
    session.flush()  # loops this batch closed count as closed (see _string_el_result)
    module = inspection_repo.module_by_id(session, insp.module_id)
    open_loops = repo.active_loop_count(session, insp.module_id)
    if module.status == ModuleStatus.HOLD or open_loops:
        why = "module is on hold" if module.status == ModuleStatus.HOLD else f"{open_loops} rework loop(s) still open"
        _event(
            session,
            module_id=module.id,
            kind=EventKind.LATER_STAGE_FLAG,
            actor=actor,
            station=insp.station_code,
            at=insp.captured_at,
            string_position=insp.string_position,
            stage=insp.stage,
            result_id=insp.result_id,
            why=why,
        )
    _record_escapes(session, insp)
    if insp.stage == Stage.FINAL_EL and insp.verdict == Verdict.OK and module.status == ModuleStatus.WIP:
        module.status = ModuleStatus.STOCK


def _record_escapes(session: Session, insp: StoredResult) -> None:
    if insp.verdict != Verdict.NG:
        return
    ng_cells = repo.ng_cells(session, insp.id)
    if not ng_cells:
        return
    # The last judged string EL image of this string before the later stage: the model's final word.
    string_insp = repo.last_judged_string_el(session, insp.module_id, insp.string_position, until=insp.captured_at)
    if string_insp is None:
        return
    # A cell string EL flagged at any time (and that was repaired since) is not a miss: only never-flagged cells count.
    ever_flagged = repo.cells_ever_flagged(session, insp.module_id, insp.string_position)
    for row, col, cls in ng_cells:
        if (row, col) in ever_flagged:
            continue
        session.add(
            Escape(
                module_id=insp.module_id,
                string_position=insp.string_position,
                row=row,
                col=col,
                cls=cls,
                string_inspection_id=string_insp.id,
                later_inspection_id=insp.id,
                model_version=string_insp.model_version,
                found_at=insp.captured_at,
            )
        )
        _event(
            session,
            module_id=insp.module_id,
            kind=EventKind.ESCAPE,
            actor=f"device:{insp.station_code}",
            station=insp.station_code,
            at=insp.captured_at,
            string_position=insp.string_position,
            row=row,
            col=col,
            cls=cls,
            stage=insp.stage,
        )


@dataclass(frozen=True)
class DispositionInput:
    """What the operator keyed for one NG cell."""

    defect_id: int
    disposition: str
    repair_code: str | None = None
    new_cell_lot: str | None = None


def dispose(
    *, session: Session, loop_id: int, item: DispositionInput, actor: str, station: str, line: str | None = None
) -> ReworkLoop:
    """Record one disposition; completing the last one moves the loop to repaired (or held)."""
    loop = _loop_for_update(session, loop_id, line)
    if loop.state != LoopState.OPEN:
        raise Conflict(
            N_("rework loop %(loop)s is %(state)s; dispositions are only taken while it is open"),
            loop=loop_id,
            state=LoopState(loop.state),
        )
    _interlock(session, loop.module_id, (ModuleStatus.HOLD, ModuleStatus.SHIPPED, ModuleStatus.SCRAPPED))
    if item.disposition not in DISPOSITIONS:
        raise InvalidInput(N_("disposition must be one of %(choices)s"), choices=", ".join(DISPOSITIONS))
    defect = inspection_repo.defect_by_id(session, item.defect_id)
    if defect is None or defect.inspection_id != loop.ng_inspection_id or not defect.ng:
        raise InvalidInput(N_("defect %(defect)s is not an NG cell of this loop's image"), defect=item.defect_id)
    if item.disposition == DispositionKind.REPAIRED:
        if item.repair_code not in REPAIR_CODES:
            raise InvalidInput(N_("a repair needs a repair code: one of %(choices)s"), choices=", ".join(REPAIR_CODES))
        if item.repair_code == RepairCode.REPLACE_CELL and not (item.new_cell_lot or "").strip():
            raise InvalidInput(N_("a replaced cell needs the new cell's lot (scan it)"))
    elif item.repair_code or item.new_cell_lot:
        raise InvalidInput(N_("repair code and cell lot belong to a repair only"))
    if repo.disposition_exists(session, loop.id, defect.id):
        raise Conflict(
            N_("string %(string)s cell %(cell)s is already dispositioned in this loop"),
            string=loop.string_position,
            cell=f"{defect.row}-{defect.col}",
        )
    model_version = repo.model_version_of(session, loop.ng_inspection_id)
    now = utcnow()
    lot = (item.new_cell_lot or "").strip() or None
    if lot is not None and not re.fullmatch(LOT_CODE, lot):  # the rule lives here, not only in the API's model
        raise InvalidInput(N_('cell lot "%(lot)s" is not a lot code (letters, digits, . _ / -; up to 60)'), lot=lot[:60])
    session.add(
        Disposition(
            loop_id=loop.id,
            defect_id=defect.id,
            cls=defect.cls,
            model_version=model_version,
            disposition=item.disposition,
            repair_code=item.repair_code,
            new_cell_lot=lot,
            actor=actor,
            station=station,
            at=now,
        )
    )
    if lot:
        _consume_lot(session, loop.module_id, lot)
    _event(
        session,
        module_id=loop.module_id,
        kind=EventKind.DISPOSITION,
        actor=actor,
        station=station,
        at=now,
        loop=loop,
        row=defect.row,
        col=defect.col,
        cls=defect.cls,
        disposition=item.disposition,
        repair_code=item.repair_code,
        new_cell_lot=lot,
    )
    audit(
        session=session,
        actor=actor,
        action="rework.disposition",
        entity="module",
        entity_id=inspection_repo.module_by_id(session, loop.module_id).barcode,
        after={
            "string": loop.string_position,
            "cell": f"{defect.row}-{defect.col}",
            "class": defect.cls,
            "disposition": item.disposition,
            "repair_code": item.repair_code,
            "new_cell_lot": lot,
            "station": station,
            "model": model_version,
        },
    )
    session.flush()
    _maybe_complete(session, loop, actor=actor, station=station, now=now)
    return loop


def undo_last(
    *, session: Session, loop_id: int, actor: str, station: str, line: str | None = None, may_undo_others: bool = False
) -> ReworkLoop:
    """Take back the loop's latest disposition (a mis-keyed one) before re-inspection; the undo itself is recorded.

    An operator takes back only what they keyed; a quality engineer (`may_undo_others`) anyone's.
    """
    loop = _loop_for_update(session, loop_id, line)
    if loop.state not in ACTIVE_LOOP_STATES:
        raise Conflict(
            N_("rework loop %(loop)s is %(state)s: a disposition can only be taken back before re-inspection or hold"),
            loop=loop_id,
            state=LoopState(loop.state),
        )
    # A hold may come from the very key being taken back (not repairable): only shipped / scrapped lock the undo.
    _interlock(session, loop.module_id, (ModuleStatus.SHIPPED, ModuleStatus.SCRAPPED))
    last = repo.last_disposition(session, loop.id)
    if last is None:
        raise Conflict(N_("nothing to undo in this loop"))
    if last.actor != actor and not may_undo_others:
        raise Forbidden(
            N_("the last disposition was keyed by %(who)s: only they or a quality engineer can take it back"), who=last.actor
        )
    defect = inspection_repo.defect_by_id(session, last.defect_id)
    if defect is None:
        raise NotFound(N_("defect %(defect)s of the disposition is gone"), defect=last.defect_id)
    if last.new_cell_lot:
        lot = traceability_repo.lot_by_code(session, last.new_cell_lot)
        if lot is not None and not repo.lot_used_elsewhere(session, loop.module_id, last.new_cell_lot, besides=last.id):
            link = traceability_repo.module_lot_link(session, loop.module_id, lot.id, source=MaterialSource.REWORK)
            if link is not None:
                session.delete(link)
    undone = {
        "row": defect.row,
        "col": defect.col,
        "cls": defect.cls,
        "disposition": last.disposition,
        "repair_code": last.repair_code,
        "new_cell_lot": last.new_cell_lot,
        "by": last.actor,
    }
    session.delete(last)
    if loop.state == LoopState.REPAIRED:
        loop.state, loop.repaired_at, loop.repaired_by, loop.repair_station = LoopState.OPEN, None, None, None
    now = utcnow()
    _event(
        session,
        module_id=loop.module_id,
        kind=EventKind.DISPOSITION_UNDONE,
        actor=actor,
        station=station,
        at=now,
        loop=loop,
        **undone,
    )
    barcode = inspection_repo.module_by_id(session, loop.module_id).barcode
    audit(
        session=session,
        actor=actor,
        action="rework.undo",
        entity="module",
        entity_id=barcode,
        before=undone,
        after={"loop": loop.id, "state": loop.state},
    )
    return loop


_LOCKED_WHY = {
    ModuleStatus.HOLD: N_("module %(barcode)s is on HOLD: a quality engineer decides the hold first; nothing was recorded"),
    ModuleStatus.SHIPPED: N_("module %(barcode)s has shipped; nothing was recorded"),
    ModuleStatus.SCRAPPED: N_("module %(barcode)s is scrapped; nothing was recorded"),
}


def _interlock(session: Session, module_id: int, locked: tuple[ModuleStatus, ...]) -> None:
    """Refuse rework keys on a module whose status forbids them (nothing is recorded)."""
    module = inspection_repo.module_by_id(session, module_id)
    if module.status in locked:
        raise Conflict(_LOCKED_WHY[ModuleStatus(module.status)], barcode=module.barcode)


def _loop_for_update(session: Session, loop_id: int, line: str | None) -> ReworkLoop:
    """The loop, row-locked; outside the caller's line it does not exist for them (404, as for modules)."""
    loop = repo.loop_for_update(session, loop_id)
    if loop is None or (line is not None and not module_visible(session, loop.module_id, line=line)):
        raise NotFound(N_("no rework loop %(loop)s"), loop=loop_id)
    return loop


def _consume_lot(session: Session, module_id: int, code: str) -> None:
    lot = traceability_repo.lot_by_code(session, code)
    if lot is None:
        lot = MaterialLot(code=code, kind=LotKind.CELL, supplier="")
        session.add(lot)
        session.flush()
    elif lot.kind != LotKind.CELL:
        raise InvalidInput(N_("lot %(lot)s is a %(kind)s lot, not a cell lot"), lot=code, kind=LotKind(lot.kind))
    if traceability_repo.module_lot_link(session, module_id, lot.id) is None:
        session.add(ModuleMaterial(module_id=module_id, lot_id=lot.id, source=MaterialSource.REWORK))


def _maybe_complete(session: Session, loop: ReworkLoop, *, actor: str, station: str, now: datetime) -> None:
    done = repo.dispositions_of_loop(session, loop.id)
    if len(done) < repo.ng_cell_count(session, loop.ng_inspection_id):
        return
    loop.repaired_at, loop.repaired_by, loop.repair_station = now, actor, station
    if DispositionKind.NOT_REPAIRABLE in done:
        loop.state = LoopState.HELD
        loop.closed_at = now
        _event(session, module_id=loop.module_id, kind=EventKind.LOOP_HELD, actor=actor, station=station, at=now, loop=loop)
        _hold(
            session,
            loop.module_id,
            source=HoldSource.NOT_REPAIRABLE,
            actor=actor,
            station=station,
            reason=f"string {loop.string_position}: a defect was marked not repairable in loop {loop.loop_no}",
        )
        return
    # Also a loop of false calls alone goes back to EL: the operator's word does not overrule an image unseen.
    loop.state = LoopState.REPAIRED
    _event(session, module_id=loop.module_id, kind=EventKind.REPAIR_RECORDED, actor=actor, station=station, at=now, loop=loop)


def place_hold(
    *, session: Session, module_ids: Sequence[int], source: str, reason: str, actor: str, station: str = "quality"
) -> list[int]:
    """Hold modules (those not already held, scrapped or shipped); returns the ids newly held."""
    if not reason.strip():
        raise InvalidInput(N_("a hold needs a reason"))
    held = []
    for mid in module_ids:
        if _hold(session, mid, source=source, reason=reason, actor=actor, station=station) is not None:
            held.append(mid)
    return held


def decide_hold(
    *, session: Session, hold_id: int, decision: str, reason: str, actor: str, deviation_no: str | None = None
) -> ModuleHold:
    """A quality engineer ends a hold: scrap, downgrade, use as is (under a deviation) or release."""
    hold = repo.hold_for_update(session, hold_id)
    if hold is None:
        raise NotFound(N_("no hold %(hold)s"), hold=hold_id)
    if hold.decision is not None:
        raise Conflict(N_("hold %(hold)s was already decided: %(decision)s"), hold=hold_id, decision=HoldOutcome(hold.decision))
    if decision not in HOLD_DECISIONS:
        raise InvalidInput(N_("decision must be one of %(choices)s"), choices=", ".join(HOLD_DECISIONS))
    if not reason.strip():
        raise InvalidInput(N_("a decision needs a reason"))
    if decision == HoldOutcome.USE_AS_IS and not (deviation_no or "").strip():
        raise InvalidInput(N_("use as is needs a deviation number"))
    if decision == HoldOutcome.RELEASE and hold.source in (HoldSource.LOOP_LIMIT, HoldSource.NOT_REPAIRABLE):
        raise InvalidInput(N_("a rework hold ends with scrap, downgrade or use as is, not a plain release"))
    module = inspection_repo.module_by_id(session, hold.module_id, for_update=True)
    before = {"status": module.status, "grade": module.grade}
    now = utcnow()
    hold.decision, hold.decision_reason, hold.decided_by, hold.decided_at = decision, reason, actor, now
    hold.deviation_no = (deviation_no or "").strip() or None
    other_open = repo.other_open_holds(session, module.id, besides=hold.id)
    if decision == HoldOutcome.SCRAP:
        module.status = ModuleStatus.SCRAPPED
        repo.hold_active_loops(session, module.id)
    else:
        if decision == HoldOutcome.DOWNGRADE:
            module.grade = "B"
        if not other_open:
            module.status = _derived_status(session, module.id)
    _event(
        session,
        module_id=module.id,
        kind=EventKind.HOLD_DECIDED,
        actor=actor,
        station="quality",
        at=now,
        decision=decision,
        reason=reason,
        deviation_no=hold.deviation_no,
    )
    audit(
        session=session,
        actor=actor,
        action=f"hold.{decision}",
        entity="module",
        entity_id=module.barcode,
        before=before,
        after={"status": module.status, "grade": module.grade, "deviation_no": hold.deviation_no},
        reason=reason,
    )
    return hold


def _derived_status(session: Session, module_id: int) -> str:
    """Where a module is when nothing holds it: shipped, stock (final EL passed) or WIP."""
    if traceability_repo.shipment_of_module(session, module_id) is not None:
        return ModuleStatus.SHIPPED
    return ModuleStatus.STOCK if repo.final_el_passed(session, module_id) else ModuleStatus.WIP
