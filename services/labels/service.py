"""Floor decisions become labelled cells: EL reviews, dispositions (false call, repaired, not repairable), escapes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.labels import repository as repo
from services.labels.schemas import OK, FloorLabel, LabelSource
from services.review import repository as review_repo
from services.rework.schemas import DispositionKind


def floor_labels(*, session: Session, since: datetime | None = None, until: datetime | None = None) -> list[FloorLabel]:
    """Every labelled cell the floor produced in [since, until), oldest first.

    A false call labels the cell OK; a repaired or not-repairable cell keeps the class the model called
    (the operator confirmed a defect, not its kind); an escape labels the passed cell with the class the
    later stage found; a completed EL review labels each doubtful cell as the operator decided (a pending
    one is no label yet). A disposition taken back is gone from the table, so it is no label.
    """
    out = []
    for rev, cell, sha, station, barcode, string in review_repo.reviewed_cells(session, since, until):
        out.append(
            FloorLabel(
                image_sha256=sha,
                barcode=barcode,
                string_position=string,
                station=station,
                row=cell.row,
                col=cell.col,
                box=[cell.box_x, cell.box_y, cell.box_w, cell.box_h],
                label=rev.cls,
                model_class=rev.model_cls,
                source=LabelSource.REVIEW,
                by=rev.actor,
                at=rev.at,
                model_version=rev.model_version,
            )
        )
    for disp, cell, sha, station, barcode, string in repo.dispositions(session, since, until):
        false_call = disp.disposition == DispositionKind.FALSE_CALL
        out.append(
            FloorLabel(
                image_sha256=sha,
                barcode=barcode,
                string_position=string,
                station=station,
                row=cell.row,
                col=cell.col,
                box=[cell.box_x, cell.box_y, cell.box_w, cell.box_h],
                label=OK if false_call else cell.cls,
                model_class=cell.cls,
                source=LabelSource(disp.disposition),
                by=disp.actor,
                at=disp.at,
                model_version=disp.model_version,
            )
        )
    for esc, sha, station, barcode in repo.escapes(session, since, until):
        out.append(
            FloorLabel(
                image_sha256=sha,
                barcode=barcode,
                string_position=esc.string_position,
                station=station,
                row=esc.row,
                col=esc.col,
                box=None,
                label=esc.cls,
                model_class=None,
                source=LabelSource.ESCAPE,
                by="later EL stage",
                at=esc.found_at,
                model_version=esc.model_version,
            )
        )
    return sorted(out, key=lambda x: x.at)
