"""The rework loop over HTTP: station view, dispositions, holds and their decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import ERRORS, BarcodePath, Engineer, ReworkPerson, SessionDep, get_settings, line_scope
from api.i18n import N_
from services.core.errors import NotFound
from services.inspection.repository import module_by_barcode
from services.rework import service, views
from services.rework.schemas import DispositionCreate, HoldCreate, HoldDecision, HoldRead, HoldSource, StationView

router = APIRouter(prefix="/api/v1", tags=["rework"], responses=ERRORS)
Barcode = BarcodePath


@router.get("/rework/{barcode}")
def station_view(barcode: Barcode, request: Request, session: SessionDep, p: ReworkPerson) -> StationView:
    """What the rework station shows for a barcode: NG cells largest first, loop counter, state."""
    limit = get_settings(request).rework_loop_limit
    return views.station_view(session=session, barcode=barcode, loop_limit=limit, line=line_scope(p))


@router.post("/rework/loops/{loop_id}/dispositions")
def dispose(
    loop_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: DispositionCreate,
    request: Request,
    session: SessionDep,
    p: ReworkPerson,
) -> StationView:
    """Record the operator's word on one NG cell; returns the updated station view."""
    item = service.DispositionInput(body.defect_id, body.disposition, body.repair_code, body.new_cell_lot)
    loop = service.dispose(
        session=session, loop_id=loop_id, item=item, actor=p.username, station=body.station, line=line_scope(p)
    )
    barcode = views.barcode_of(session, loop.module_id)
    return views.station_view(session=session, barcode=barcode, loop_limit=get_settings(request).rework_loop_limit)


@router.get("/holds")
def list_holds(session: SessionDep, p: Engineer, open_only: Annotated[bool, Query(alias="open")] = True) -> list[HoldRead]:
    """Holds waiting for a decision (or all recent ones with open=false)."""
    return views.holds(session, open_only=open_only)


@router.post("/holds/{hold_id}/decision")
def decide(hold_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: HoldDecision, session: SessionDep, p: Engineer) -> HoldRead:
    """End a hold: scrap, downgrade, use as is (deviation number required) or release."""
    hold = service.decide_hold(
        session=session,
        hold_id=hold_id,
        decision=body.decision,
        reason=body.reason,
        actor=p.username,
        deviation_no=body.deviation_no,
    )
    return next(h for h in views.holds(session, module_id=hold.module_id) if h.id == hold.id)


@router.post("/modules/{barcode}/hold", status_code=201)
def hold_module(barcode: Barcode, body: HoldCreate, session: SessionDep, p: Engineer) -> list[HoldRead]:
    """Put one module on hold by hand (a quality engineer's decision pending)."""
    module = module_by_barcode(session, barcode)
    if module is None:
        raise NotFound(N_("unknown barcode %(barcode)s"), barcode=barcode)
    service.place_hold(session=session, module_ids=[module.id], source=HoldSource.MANUAL, reason=body.reason, actor=p.username)
    return views.holds(session, module_id=module.id, open_only=True)
