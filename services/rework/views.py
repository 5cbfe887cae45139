"""Reading the rework loop: the station view of a scanned barcode and a module's loop history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from services.contracts import Stage, Verdict
from services.core.errors import NotFound
from services.inspection.orm import CellDefect, Inspection, Module
from services.inspection.repository import module_by_barcode
from services.inspection.schemas import ModuleStatus
from services.rework.orm import Disposition, Escape, ModuleHold, ReworkEvent, ReworkLoop
from services.rework.schemas import (
    ACTIVE_LOOP_STATES,
    DispositionRead,
    EscapeRead,
    EventRead,
    HoldRead,
    LoopDefect,
    LoopRead,
    StationState,
    StationView,
    StringImage,
)


def _disposition_read(d: Disposition) -> DispositionRead:
    return DispositionRead(
        defect_id=d.defect_id,
        disposition=d.disposition,
        repair_code=d.repair_code,
        new_cell_lot=d.new_cell_lot,
        actor=d.actor,
        station=d.station,
        at=d.at,
    )


def loops_of_module(session: Session, module_id: int) -> list[LoopRead]:
    """Every loop of a module (string, loop number), with its dispositions."""
    ng, rt = aliased(Inspection), aliased(Inspection)
    rows = session.execute(
        select(ReworkLoop, ng.result_id, rt.result_id)
        .join(ng, ng.id == ReworkLoop.ng_inspection_id)
        .outerjoin(rt, rt.id == ReworkLoop.retest_inspection_id)
        .where(ReworkLoop.module_id == module_id)
        .order_by(ReworkLoop.string_position, ReworkLoop.loop_no)
    ).all()
    disp: dict[int, list[DispositionRead]] = {}
    if rows:
        for d in session.scalars(
            select(Disposition).where(Disposition.loop_id.in_([r[0].id for r in rows])).order_by(Disposition.at, Disposition.id)
        ):
            disp.setdefault(d.loop_id, []).append(_disposition_read(d))
    return [
        LoopRead(
            id=loop.id,
            string_position=loop.string_position,
            loop_no=loop.loop_no,
            state=loop.state,
            opened_at=loop.opened_at,
            repaired_at=loop.repaired_at,
            repaired_by=loop.repaired_by,
            repair_station=loop.repair_station,
            closed_at=loop.closed_at,
            ng_result_id=ng_rid,
            retest_result_id=rt_rid,
            dispositions=disp.get(loop.id, []),
        )
        for loop, ng_rid, rt_rid in rows
    ]


def station_view(*, session: Session, barcode: str, loop_limit: int, line: str | None = None) -> StationView:
    """What a rework station shows after a scan: images, NG cells largest first, loop counter, state."""
    module = module_by_barcode(session, barcode, line=line)
    if module is None:
        raise NotFound(f"unknown barcode {barcode}: no EL result for it")
    loops = loops_of_module(session, module.id)
    active = {lp.string_position: lp for lp in loops if lp.state in ACTIVE_LOOP_STATES}
    # The latest string EL image per string, and the NG image of each active loop.
    latest: dict[int, Inspection] = {}
    for insp in session.scalars(
        select(Inspection)
        .where(Inspection.module_id == module.id, Inspection.stage == Stage.STRING_EL)
        .order_by(Inspection.captured_at, Inspection.id)
    ):
        latest[insp.string_position] = insp
    loop_images = {
        i.result_id: i
        for i in session.scalars(select(Inspection).where(Inspection.result_id.in_([lp.ng_result_id for lp in active.values()])))
    }
    strings: list[StringImage] = []
    for pos in sorted(latest):
        lp = active.get(pos)
        insp = loop_images[lp.ng_result_id] if lp else latest[pos]
        strings.append(
            StringImage(
                string_position=pos,
                result_id=insp.result_id,
                verdict=insp.verdict,
                stage=insp.stage,
                error=insp.error,
                image_sha256=insp.image_sha256,
                width=insp.image_width,
                height=insp.image_height,
                loop=lp,
            )
        )
    defects = _open_defects(session, active, loop_images)
    state, message = _state(module, latest, active, defects)
    return StationView(
        barcode=module.barcode,
        status=module.status,
        grade=module.grade,
        state=state,
        message=message,
        loop_limit=loop_limit,
        max_loop_no=max((lp.loop_no for lp in active.values()), default=max((lp.loop_no for lp in loops), default=0)),
        strings=strings,
        defects=defects,
        history=loops,
    )


def _open_defects(session: Session, active: dict[int, LoopRead], images: dict[str, Inspection]) -> list[LoopDefect]:
    by_insp = {images[lp.ng_result_id].id: lp for lp in active.values()}
    if not by_insp:
        return []
    done = {d.defect_id: d for lp in active.values() for d in lp.dispositions}
    out = []
    for d in session.scalars(select(CellDefect).where(CellDefect.inspection_id.in_(by_insp), CellDefect.ng.is_(True))):
        lp = by_insp[d.inspection_id]
        box = d.defect_box or [d.box_x, d.box_y, d.box_w, d.box_h]
        out.append(
            LoopDefect(
                loop_id=lp.id,
                defect_id=d.id,
                string_position=lp.string_position,
                row=d.row,
                col=d.col,
                cls=d.cls,
                score=d.score,
                box=[d.box_x, d.box_y, d.box_w, d.box_h],
                defect_box=d.defect_box,
                area=int(box[2] * box[3]),
                disposition=done.get(d.id),
            )
        )
    # Largest defect first (area of its heat-map box), then the most certain: what to look at first.
    out.sort(key=lambda x: (-x.area, -x.score, x.string_position, x.row, x.col))
    return out


def _state(
    module: Module, latest: dict[int, Inspection], active: dict[int, LoopRead], defects: Sequence[LoopDefect]
) -> tuple[StationState, str]:
    if module.status == ModuleStatus.SCRAPPED:
        return StationState.SCRAPPED, "Module scrapped: do not rework."
    if module.status == ModuleStatus.HOLD:
        return StationState.HOLD, "Module on HOLD for the quality engineer: do not rework, put it in the hold area."
    pending = sum(1 for d in defects if d.disposition is None)
    if pending:
        return StationState.NG, f"{pending} defect(s) to disposition."
    if active:
        strings = ", ".join(str(p) for p in sorted(active))
        return StationState.RETEST, f"Repair recorded. Send string {strings} back to EL for re-inspection."
    if not latest:
        return StationState.NONE, "No string EL result for this module yet."
    errors = sorted(p for p, i in latest.items() if i.verdict == Verdict.ERROR)
    if errors:
        return StationState.ERROR, f"String {', '.join(map(str, errors))}: image could not be judged. Manual inspection."
    review = sorted(p for p, i in latest.items() if i.verdict == Verdict.REVIEW)
    if review:
        return (
            StationState.REVIEW,
            f"String {', '.join(map(str, review))}: cells wait for EL review. No rework until the review confirms a defect.",
        )
    return StationState.OK, "OK: no open rework for this module."


def holds(session: Session, *, module_id: int | None = None, open_only: bool = False, limit: int = 200) -> list[HoldRead]:
    """Holds, newest first (of one module, or every open one)."""
    stmt = select(ModuleHold, Module.barcode).join(Module, Module.id == ModuleHold.module_id)
    if module_id is not None:
        stmt = stmt.where(ModuleHold.module_id == module_id)
    if open_only:
        stmt = stmt.where(ModuleHold.decision.is_(None))
    rows = session.execute(stmt.order_by(ModuleHold.id.desc()).limit(limit)).all()
    return [
        HoldRead(
            id=h.id,
            barcode=b,
            source=h.source,
            reason=h.reason,
            placed_by=h.placed_by,
            placed_at=h.placed_at,
            decision=h.decision,
            decision_reason=h.decision_reason,
            deviation_no=h.deviation_no,
            decided_by=h.decided_by,
            decided_at=h.decided_at,
        )
        for h, b in rows
    ]


def count_open_holds(session: Session) -> int:
    """Holds waiting for a decision."""
    return int(session.scalar(select(func.count(ModuleHold.id)).where(ModuleHold.decision.is_(None))) or 0)


def events_of_module(session: Session, module_id: int) -> list[EventRead]:
    """The loop's transitions for one module, oldest first."""
    rows = session.scalars(
        select(ReworkEvent).where(ReworkEvent.module_id == module_id).order_by(ReworkEvent.id)
    )  # causal order (device clocks and server clock differ)
    return [
        EventRead(
            kind=e.kind,
            string_position=e.string_position,
            loop_id=e.loop_id,
            actor=e.actor,
            station=e.station,
            at=e.at,
            detail=e.detail,
        )  # fmt: skip
        for e in rows
    ]


def escapes_of_module(session: Session, module_id: int) -> list[EscapeRead]:
    """Defects later EL stages found in cells string EL passed."""
    rows = session.execute(
        select(Escape, Inspection.result_id, Inspection.stage)
        .join(Inspection, Inspection.id == Escape.later_inspection_id)
        .where(Escape.module_id == module_id)
        .order_by(Escape.found_at)
    ).all()
    return [
        EscapeRead(
            string_position=e.string_position,
            row=e.row,
            col=e.col,
            cls=e.cls,
            model_version=e.model_version,
            found_at=e.found_at,
            later_result_id=rid,
            stage=stage,
        )  # fmt: skip
        for e, rid, stage in rows
    ]


def barcode_of(session: Session, module_id: int) -> str:
    """A module's barcode."""
    barcode = session.scalar(select(Module.barcode).where(Module.id == module_id))
    if barcode is None:
        raise NotFound(f"no module {module_id}")
    return barcode
