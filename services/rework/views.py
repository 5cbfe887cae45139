"""Reading the rework loop: the station view of a scanned barcode and a module's loop history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from services.contracts import Verdict
from services.core.errors import NotFound
from services.core.i18n import N_, Note, note
from services.core.reads import read
from services.inspection.orm import Inspection, Module
from services.inspection.repository import module_by_barcode, module_by_id
from services.inspection.schemas import ModuleStatus
from services.rework import repository as repo
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


def loops_of_module(session: Session, module_id: int) -> list[LoopRead]:
    """Every loop of a module (string, loop number), with its dispositions."""
    rows = repo.loops_of_module(session, module_id)
    disp: dict[int, list[DispositionRead]] = {}
    for d in repo.dispositions_of_loops(session, [r[0].id for r in rows]):
        disp.setdefault(d.loop_id, []).append(DispositionRead.model_validate(d))
    return [
        read(LoopRead, loop, ng_result_id=ng_rid, retest_result_id=rt_rid, dispositions=disp.get(loop.id, []))
        for loop, ng_rid, rt_rid in rows
    ]


def module_exists(*, session: Session, barcode: str) -> bool:
    """Whether any line has this module (to tell "another line's module" from "unknown")."""
    return module_by_barcode(session, barcode) is not None


def station_view(*, session: Session, barcode: str, loop_limit: int, line: str | None = None) -> StationView:
    """What a rework station shows after a scan: images, NG cells string by string, loop counter, state."""
    module = module_by_barcode(session, barcode, line=line)
    if module is None:
        raise NotFound(N_("unknown barcode %(barcode)s: no EL result for it"), barcode=barcode)
    loops = loops_of_module(session, module.id)
    active = {lp.string_position: lp for lp in loops if lp.state in ACTIVE_LOOP_STATES}
    # The latest string EL image per string, and the NG image of each active loop.
    latest: dict[int, Inspection] = {i.string_position: i for i in repo.string_el_images(session, module.id)}
    loop_images = repo.inspections_by_result_id(session, [lp.ng_result_id for lp in active.values()])
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
    state, notes = _state(module, latest, active, defects)
    return StationView(
        barcode=module.barcode,
        status=module.status,
        grade=module.grade,
        state=state,
        message=" ".join(n.english() for n in notes),
        notes=notes,
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
    for d in repo.ng_defects_of(session, list(by_insp)):
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
    return order_for_station(out)


SURE_SCORE = 0.9  # the classifier's class score from which a defect counts as sure at the station


def order_for_station(defects: list[LoopDefect]) -> list[LoopDefect]:
    """The operator's walking order: string by string; in each, sure defects first, then by cell."""
    # One string is reworked at a time on the table, so the list never jumps between strings;
    # the sure ones first so a string that must be re-soldered anyway is seen as such at once.
    return sorted(defects, key=lambda x: (x.string_position, x.score < SURE_SCORE, x.row, x.col))


def _state(
    module: Module, latest: dict[int, Inspection], active: dict[int, LoopRead], defects: Sequence[LoopDefect]
) -> tuple[StationState, list[Note]]:
    if module.status == ModuleStatus.SCRAPPED:
        return StationState.SCRAPPED, [note(N_("Module scrapped: do not rework."))]
    if module.status == ModuleStatus.HOLD:
        return StationState.HOLD, [note(N_("Module on HOLD for the quality engineer: do not rework, put it in the hold area."))]
    errors = sorted(p for p, i in latest.items() if i.verdict == Verdict.ERROR)
    # An unreadable string is never hidden behind the module's NG strings: it needs its own re-image.
    reimage = (
        [note(N_("String %(strings)s: image could not be judged. Re-image it at string EL."), strings=_list(errors))]
        if errors
        else []
    )
    pending = sum(1 for d in defects if d.disposition is None)
    if pending:
        return StationState.NG, [note(N_("%(n)s defect(s) to disposition."), n=pending), *reimage]
    if active:
        # A repaired string whose re-test came back REVIEW is at the EL review, not waiting to be sent back.
        waiting = [p for p in active if p in latest and latest[p].verdict == Verdict.REVIEW]
        wait = [note(N_("String %(strings)s: the re-test waits for EL review."), strings=_list(waiting))] if waiting else []
        back = [p for p in active if p not in waiting]
        if not back:
            return StationState.REVIEW, [*wait, *reimage]
        retest = note(N_("Repair recorded. Send string %(strings)s back to EL for re-inspection."), strings=_list(back))
        return StationState.RETEST, [retest, *wait, *reimage]
    if not latest:
        return StationState.NONE, [note(N_("No string EL result for this module yet."))]
    if errors:
        return StationState.ERROR, reimage
    review = sorted(p for p, i in latest.items() if i.verdict == Verdict.REVIEW)
    if review:
        text = N_("String %(strings)s: cells wait for EL review. No rework until the review confirms a defect.")
        return StationState.REVIEW, [note(text, strings=_list(review))]
    return StationState.OK, [note(N_("OK: no open rework for this module."))]


def _list(positions: Iterable[int]) -> str:
    return ", ".join(str(p) for p in sorted(positions))


def holds(session: Session, *, module_id: int | None = None, open_only: bool = False, limit: int = 200) -> list[HoldRead]:
    """Holds, newest first (of one module, or every open one)."""
    return [read(HoldRead, h, barcode=b) for h, b in repo.holds(session, module_id=module_id, open_only=open_only, limit=limit)]


def count_open_holds(session: Session) -> int:
    """Holds waiting for a decision."""
    return repo.count_open_holds(session)


def events_of_module(session: Session, module_id: int) -> list[EventRead]:
    """The loop's transitions for one module, in causal order."""
    return [EventRead.model_validate(e) for e in repo.events_of_module(session, module_id)]


def escapes_of_module(session: Session, module_id: int) -> list[EscapeRead]:
    """Defects later EL stages found in cells string EL passed."""
    return [read(EscapeRead, e, later_result_id=rid, stage=stage) for e, rid, stage in repo.escapes_of_module(session, module_id)]


def barcode_of(session: Session, module_id: int) -> str:
    """A module's barcode."""
    return module_by_id(session, module_id).barcode
