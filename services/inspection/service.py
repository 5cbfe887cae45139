"""Recording inspection results idempotently and reading module histories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from services.contracts import CellDecision, ResultEnvelope
from services.core.errors import NotFound
from services.core.i18n import N_
from services.core.pagination import Page
from services.core.reads import read
from services.core.time import utcnow
from services.devices.schemas import ConfirmationRead, RefusedRead
from services.events.schemas import EventType
from services.events.service import emit_many
from services.imagestore.store import BlobStore
from services.inspection import repository as repo
from services.inspection.firstpass import record_first_pass
from services.inspection.orm import CellDefect, Inspection
from services.inspection.schemas import DefectRead, InspectionRead, ModuleRead
from services.inspection.scores import record_scores
from services.inspection.shifts import load_calendar

OK_CLASS = "ok"


def record_results(*, session: Session, items: Sequence[tuple[ResultEnvelope, int]], plant_timezone: str = "UTC") -> list[str]:
    """Insert results (envelope, device row id); already stored result_ids are skipped.

    Returns the result_ids that were new. Does not commit.
    """
    if not items:
        return []
    now = utcnow()
    barcodes = sorted({env.barcode for env, _ in items})
    calendar = load_calendar(session, plant_timezone)
    module_ids = repo.ensure_modules(session, barcodes, created_at=now)
    # The first copy of a result_id in a batch is the one stored (its row and its cells); later copies are duplicates.
    first: dict[str, tuple[ResultEnvelope, int]] = {}
    for env, device_row_id in items:
        first.setdefault(env.result_id, (env, device_row_id))
    items = list(first.values())
    by_id = {rid: env for rid, (env, _) in first.items()}
    rows = [
        {
            "result_id": env.result_id,
            "module_id": module_ids[env.barcode],
            "device_id": device_row_id,
            "station_code": env.station_id,
            "string_position": env.string_position,
            "stage": env.stage.value,
            "captured_at": env.captured_at,
            "shift": calendar.shift_of(env.captured_at),
            "received_at": now,
            "recipe": env.recipe,
            "grid_rows": env.grid.rows,
            "grid_cols": env.grid.cols,
            "model_name": env.model.name,
            "model_version": env.model.version,
            "model_sha256": env.model.sha256,
            "verdict": env.verdict.value,
            "error": env.error,
            "ng_cells": sum(1 for c in env.cells if c.ng),
            "review_cells": sum(1 for c in env.cells if c.decision is CellDecision.REVIEW),
            "cell_scores": _cell_scores(env),
            "shadow_version": env.shadow.model.version if env.shadow else None,
            "shadow": _shadow(env),
            "image_sha256": env.image.sha256,
            "image_uploaded": env.image.uploaded,
            "overlay_sha256": env.overlay_sha256,
            "image_width": env.image.width,
            "image_height": env.image.height,
            "timings_ms": env.timings_ms,
            "schema_version": env.schema_version,
            "rework_applied_at": None,
        }
        for env, device_row_id in {e.result_id: (e, d) for e, d in items}.values()
    ]
    record_first_pass(session, rows, plant_timezone)
    inserted = repo.insert_inspections(session, rows)
    defect_rows = []
    for inspection_id, result_id in inserted:
        for c in by_id[result_id].cells:
            if c.cls == OK_CLASS:
                continue
            defect_rows.append(
                {
                    "inspection_id": inspection_id,
                    "row": c.row,
                    "col": c.col,
                    "cls": c.cls,
                    "score": c.score,
                    "ng": c.ng,
                    "decision": c.effective_decision.value,
                    "p_defect": c.p_defect,
                    "box_x": c.box.x,
                    "box_y": c.box.y,
                    "box_w": c.box.w,
                    "box_h": c.box.h,
                    "defect_box": [c.defect_box.x, c.defect_box.y, c.defect_box.w, c.defect_box.h] if c.defect_box else None,
                }
            )
    repo.insert_defects(session, defect_rows)
    stored = {rid for _, rid in inserted}
    record_scores(session, [r for r in rows if r["result_id"] in stored], plant_timezone)
    emit_many(session=session, events=[_stored_event(by_id[rid]) for _, rid in inserted])
    return [rid for _, rid in inserted]


def _stored_event(env: ResultEnvelope) -> tuple[EventType, str, dict[str, object], datetime]:
    """The result-stored event: verdict, cells not OK, picture references (URLs are signed at delivery)."""
    data: dict[str, object] = {
        "result_id": env.result_id,
        "barcode": env.barcode,
        "station": env.station_id,
        "string_position": env.string_position,
        "stage": env.stage.value,
        "captured_at": env.captured_at.isoformat(),
        "recipe": env.recipe,
        "grid": f"{env.grid.rows}x{env.grid.cols}",
        "verdict": env.verdict.value,
        "error": env.error,
        "model": {"name": env.model.name, "version": env.model.version},
        "cells": [
            {"row": c.row, "col": c.col, "class": c.cls, "score": c.score, "decision": c.effective_decision.value}
            for c in env.cells
            if c.cls != OK_CLASS
        ],
        "picture": {"sha256": env.image.sha256} if env.image.uploaded else None,
        "overlay": {"sha256": env.overlay_sha256} if env.overlay_sha256 else None,
    }
    return EventType.RESULT_STORED, env.barcode, data, env.captured_at


def _cell_scores(env: ResultEnvelope) -> list[list[object]] | None:
    """[row, col, decision, p_defect, top_class, top_score] of every cell of a v2 result (None for v1)."""
    if env.schema_version < 2 or not env.cells:
        return None
    return [[c.row, c.col, c.effective_decision.value, c.p_defect, c.top_class, c.top_score] for c in env.cells]


def _shadow(env: ResultEnvelope) -> dict[str, object] | None:
    """The shadow verdict as stored: compact cells like cell_scores."""
    if env.shadow is None:
        return None
    sh = env.shadow
    return {
        "model": sh.model.model_dump(),
        "verdict": sh.verdict.value,
        "error": sh.error,
        "ms": sh.ms,
        "cells": [[c.row, c.col, c.decision.value, c.p_defect, c.top_class, c.top_score] for c in sh.cells],
    }


def _inspection_read(i: Inspection, *, barcode: str, device: str, defects: list[DefectRead] | None) -> InspectionRead:
    return read(
        InspectionRead,
        i,
        barcode=barcode,
        device=device,
        station=i.station_code,
        grid=f"{i.grid_rows}x{i.grid_cols}",
        defects=defects,
    )


def _defect_read(d: CellDefect) -> DefectRead:
    return read(DefectRead, d, box=[d.box_x, d.box_y, d.box_w, d.box_h])


def module_history(*, session: Session, barcode: str, line: str | None = None) -> ModuleRead:
    """Everything stored about one barcode: inspections (oldest first) with their defects.

    line: the caller sees only modules that passed a station of this line (404 otherwise, not 403:
    the barcode's existence is not disclosed either).
    """
    module = repo.module_by_barcode(session, barcode, line=line)
    if module is None:
        raise NotFound(N_("unknown barcode %(barcode)s"), barcode=barcode)
    inspections = repo.inspections_of_module(session, module.id)
    defects: dict[int, list[DefectRead]] = {}
    for d in repo.defects_of(session, [i.id for i, _ in inspections]):
        defects.setdefault(d.inspection_id, []).append(_defect_read(d))
    reads = [_inspection_read(i, barcode=barcode, device=dev, defects=defects.get(i.id, [])) for i, dev in inspections]
    latest = {r.string_position: r.verdict for r in reads}
    return ModuleRead(barcode=module.barcode, created_at=module.created_at, latest_verdict_by_string=latest, inspections=reads)


def list_inspections(
    *,
    session: Session,
    offset: int,
    limit: int,
    verdict: str | None = None,
    station: str | None = None,
    since: datetime | None = None,
    line: str | None = None,
    until: datetime | None = None,
) -> Page[InspectionRead]:
    """A page of inspections in [since, until), newest first (only the caller's line when `line` is given)."""
    rows, total = repo.list_inspections(
        session, offset=offset, limit=limit, verdict=verdict, station=station, since=since, line=line, until=until
    )
    items = [_inspection_read(i, barcode=b, device=d, defects=None) for i, b, d in rows]
    return Page[InspectionRead](items=items, total=total, offset=offset, limit=limit)


def latest_capture(*, session: Session, line: str | None = None) -> datetime | None:
    """When the newest result was captured (None before the first)."""
    return repo.latest_capture(session, line=line)


def confirm_results(*, session: Session, blobs: BlobStore, device_id: int, result_ids: Sequence[str]) -> ConfirmationRead:
    """What the edge may forget (stored, image present with its size), must park (refused) or upload again.

    The image is checked in the store itself, not only its row: a store that lost a file (a disk
    replaced, a restore from an older backup) makes the edge upload it again instead of forgetting it.
    """
    stored: list[str] = []
    reupload: set[str] = set()
    for result_id, sha, size in repo.stored_with_images(session, device_id=device_id, result_ids=result_ids):
        if sha is None or blobs.size(sha) == size:
            stored.append(result_id)
        else:
            reupload.add(sha)
    done = set(stored)
    refused = {
        rid: RefusedRead(result_id=rid, stream_id=sid, key_id=kid, reason=reason)
        for rid, sid, kid, reason in repo.refusals(session, device_id=device_id, result_ids=result_ids)
        if rid not in done
    }
    return ConfirmationRead(stored=sorted(stored), refused=list(refused.values()), reupload=sorted(reupload))
