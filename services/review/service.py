"""The EL review of REVIEW images: decide each doubtful cell, then complete the image.

A decision stays pending (changeable, undoable) until the operator completes the image. Completing
rewrites the stored judgement as the floor saw it: confirmed cells become NG cells (of the confirmed
class), cleared ones OK, the image NG or OK, the first-pass roll-up moves with it, and the rework
loop takes the image as if it had arrived so (a confirmed defect opens the loop; an all-OK retest
closes a repaired loop). The model's own word stays in the image's cell scores and in the review rows.
Services never commit; the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.contracts import CellDecision, Verdict
from services.contracts.result import CLASS_PATTERN
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.inspection import repository as inspection_repo
from services.inspection.firstpass import move_first_pass
from services.inspection.orm import CellDefect, Inspection
from services.inspection.schemas import ModuleStatus
from services.review import repository as repo
from services.review.orm import CellReview, StringReview
from services.review.schemas import QueueItem, ReviewCell, ReviewDecision, ReviewDone, ReviewQueue, ReviewString
from services.rework.service import apply_review

OK_CLASS = "ok"
LOCKED = (ModuleStatus.SHIPPED, ModuleStatus.SCRAPPED)


@dataclass(frozen=True)
class CellInput:
    """One key at the review station: defect (of a class; None: the model's) or OK for one cell."""

    defect_id: int
    decision: ReviewDecision
    cls: str | None = None


def queue(
    *, session: Session, station: str | None, overdue_after_s: int, line: str | None = None, limit: int = 50
) -> ReviewQueue:
    """REVIEW images still waiting (not re-imaged since), oldest first; `overdue_after_s` flags old ones."""
    now = utcnow()
    rows, total, overdue, oldest = repo.queue(
        session, station=station, line=line, limit=limit, overdue_before=now - timedelta(seconds=overdue_after_s)
    )
    items = [
        QueueItem(
            result_id=i.result_id,
            barcode=barcode,
            station=i.station_code,
            string_position=i.string_position,
            stage=i.stage,
            captured_at=i.captured_at,
            review_cells=i.review_cells,
            decided=int(decided or 0),
            age_s=_age(i.captured_at, now),
            overdue=_age(i.captured_at, now) > overdue_after_s,
        )
        for i, barcode, decided in rows
    ]
    oldest_s = _age(oldest, now) if oldest else None
    return ReviewQueue(
        station=station, total=total, overdue=overdue, oldest_s=oldest_s, overdue_after_s=overdue_after_s, items=items
    )


def _age(at: datetime, now: datetime) -> int:
    return max(0, int((now - at).total_seconds()))


def review_string(*, session: Session, result_id: str, line: str | None = None) -> ReviewString:
    """The image and its cells to decide, with the decisions taken so far."""
    insp, barcode = _image(session, result_id, line)
    reviews = repo.cell_reviews(session, insp.id)
    cells = [_cell(c, reviews.get(c.id)) for c in repo.review_cells(session, insp.id)]
    return ReviewString(
        result_id=insp.result_id,
        barcode=barcode,
        station=insp.station_code,
        string_position=insp.string_position,
        stage=insp.stage,
        captured_at=insp.captured_at,
        grid=f"{insp.grid_rows}x{insp.grid_cols}",
        model_version=insp.model_version,
        image_sha256=insp.image_sha256,
        image_uploaded=insp.image_uploaded,
        width=insp.image_width,
        height=insp.image_height,
        cells=cells,
    )


def _cell(c: CellDefect, r: CellReview | None) -> ReviewCell:
    return ReviewCell(
        defect_id=c.id,
        row=c.row,
        col=c.col,
        box=[c.box_x, c.box_y, c.box_w, c.box_h],
        defect_box=c.defect_box,
        model_cls=r.model_cls if r else c.cls,
        p_defect=c.p_defect,
        score=c.score,
        decision=ReviewDecision(r.decision) if r else None,
        cls=r.cls if r else None,
        by=r.actor if r else None,
        at=r.at if r else None,
    )


def _image(session: Session, result_id: str, line: str | None, *, for_update: bool = False) -> tuple[Inspection, str]:
    found = repo.inspection(session, result_id, for_update=for_update)
    if found is None or (line is not None and not inspection_repo.module_visible(session, found[0].module_id, line=line)):
        raise NotFound(N_("no EL image %(result)s"), result=result_id)
    return found


def _open_image(session: Session, result_id: str, line: str | None) -> tuple[Inspection, str]:
    """An image whose review may still change: REVIEW, not completed, not re-imaged since, module not gone."""
    insp, barcode = _image(session, result_id, line, for_update=True)
    if repo.string_review(session, insp.id) is not None:
        raise Conflict(N_("string %(string)s of %(code)s is already reviewed"), string=insp.string_position, code=barcode)
    if insp.verdict != Verdict.REVIEW:
        raise Conflict(
            N_("string %(string)s of %(code)s is %(verdict)s: only REVIEW images are reviewed"),
            string=insp.string_position,
            code=barcode,
            verdict=Verdict(insp.verdict),
        )
    if repo.superseded(session, insp):
        raise Conflict(
            N_("string %(string)s of %(code)s was imaged again since: the newer image counts, not this one"),
            string=insp.string_position,
            code=barcode,
        )
    status = inspection_repo.module_by_id(session, insp.module_id).status
    if status in LOCKED:
        raise Conflict(N_("module %(code)s is %(status)s: nothing to review"), code=barcode, status=ModuleStatus(status))
    return insp, barcode


def decide(*, session: Session, result_id: str, item: CellInput, actor: str, station: str, line: str | None = None) -> CellReview:
    """Record (or change, while pending) the decision on one REVIEW cell."""
    insp, _ = _open_image(session, result_id, line)
    cell = next((c for c in repo.review_cells(session, insp.id) if c.id == item.defect_id), None)
    if cell is None:
        raise InvalidInput(N_("cell %(defect)s is not a cell for review on this image"), defect=item.defect_id)
    if item.decision is ReviewDecision.DEFECT:
        cls = item.cls or cell.cls
        if not re.fullmatch(CLASS_PATTERN, cls) or cls == OK_CLASS:
            raise InvalidInput(N_('"%(cls)s" is not a defect class'), cls=cls[:40])
    else:
        cls = OK_CLASS
    now = utcnow()
    review = repo.cell_reviews(session, insp.id).get(cell.id)
    if review is None:
        review = CellReview(defect_id=cell.id, inspection_id=insp.id, model_cls=cell.cls, model_version=insp.model_version)
        session.add(review)
    review.decision, review.cls, review.actor, review.station, review.at = item.decision.value, cls, actor, station, now
    session.flush()
    return review


def undo_last(*, session: Session, result_id: str, line: str | None = None) -> CellReview:
    """Take back the image's latest pending decision (a mis-keyed one); returns what was taken back."""
    insp, _ = _open_image(session, result_id, line)
    last = repo.last_cell_review(session, insp.id)
    if last is None:
        raise Conflict(N_("nothing to take back on this image"))
    session.delete(last)
    session.flush()
    return last


def complete(
    *, session: Session, result_id: str, actor: str, station: str, loop_limit: int, plant_timezone: str, line: str | None = None
) -> ReviewDone:
    """Finish an image once every REVIEW cell is decided: it becomes NG or OK and the rework loop takes it."""
    insp, barcode = _open_image(session, result_id, line)
    cells = repo.review_cells(session, insp.id)
    reviews = repo.cell_reviews(session, insp.id)
    undecided = [c for c in cells if c.id not in reviews]
    if undecided:
        raise Conflict(
            N_("%(n)s cell(s) of this image are not decided yet (%(cells)s): D defect or O OK for each"),
            n=len(undecided),
            cells=", ".join(f"{c.row}-{c.col}" for c in undecided),
        )
    defects = 0
    for c in cells:
        r = reviews[c.id]
        if r.decision == ReviewDecision.DEFECT:
            c.decision, c.ng, c.cls, defects = CellDecision.NG.value, True, r.cls, defects + 1
        else:
            c.decision, c.ng = CellDecision.OK.value, False
    before = insp.verdict
    insp.verdict = (Verdict.NG if defects else Verdict.OK).value
    insp.ng_cells += defects
    insp.review_cells = 0
    if insp.first_pass:
        move_first_pass(session, insp, before=before, zone=ZoneInfo(plant_timezone))
    now = utcnow()
    session.add(
        StringReview(
            inspection_id=insp.id,
            verdict=Verdict(insp.verdict),
            defects=defects,
            cleared=len(cells) - defects,
            actor=actor,
            station=station,
            at=now,
            wait_s=_age(insp.captured_at, now),
        )
    )
    audit(
        session=session,
        actor=actor,
        action="review.complete",
        entity="inspection",
        entity_id=insp.result_id,
        before={"verdict": before},
        after={
            "verdict": insp.verdict,
            "cells": {f"{c.row}-{c.col}": reviews[c.id].cls for c in cells},
        },
        reason=f"{barcode} string {insp.string_position} at {station}",
    )
    session.flush()
    apply_review(session=session, inspection=insp, loop_limit=loop_limit, actor=actor)
    return ReviewDone(
        result_id=insp.result_id,
        barcode=barcode,
        string_position=insp.string_position,
        verdict=insp.verdict,
        defects=defects,
        cleared=len(cells) - defects,
        by=actor,
        at=now,
    )


def review_all(
    *,
    session: Session,
    result_id: str,
    items: Sequence[CellInput],
    actor: str,
    station: str,
    loop_limit: int,
    plant_timezone: str,
    line: str | None = None,
) -> ReviewDone:
    """An image reviewed in one go (the API): every cell's decision, then complete; all of it or nothing."""
    for item in items:
        decide(session=session, result_id=result_id, item=item, actor=actor, station=station, line=line)
    return complete(
        session=session,
        result_id=result_id,
        actor=actor,
        station=station,
        loop_limit=loop_limit,
        plant_timezone=plant_timezone,
        line=line,
    )
