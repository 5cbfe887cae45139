"""A module's whole life on one page / one API call: the one step that reads every domain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.complaints import repository as complaints_repo
from services.core.errors import NotFound
from services.core.i18n import N_
from services.history.schemas import ComplaintRef, LotRead, ModuleRecord, ShipmentRead
from services.inspection import repository as inspection_repo
from services.inspection.service import module_history
from services.rework import views as rework
from services.traceability import repository as traceability_repo


def module_record(*, session: Session, barcode: str, line: str | None = None, complaints_visible: bool = True) -> ModuleRecord:
    """Context, inspections with defects, rework loops and dispositions, holds, events, escapes, shipment.

    Complaints (customer, symptom, judgement) only for people who work complaints: others see their count.
    """
    module = inspection_repo.module_by_barcode(session, barcode, line=line)
    if module is None:
        raise NotFound(N_("unknown barcode %(barcode)s"), barcode=barcode)
    history = module_history(session=session, barcode=barcode, line=line)
    wo = traceability_repo.work_order(session, module.work_order_id)
    product = traceability_repo.product_by_code(session, module.product_code)
    ship = traceability_repo.shipment_of_module(session, module.id)
    complaints = [ComplaintRef.model_validate(row._mapping) for row in complaints_repo.complaints_of_module(session, module.id)]
    return ModuleRecord(
        barcode=module.barcode,
        created_at=module.created_at,
        status=module.status,
        grade=module.grade,
        product=module.product_code,
        series=product.series if product else None,
        work_order=wo.code if wo else None,
        factory=wo.factory if wo else None,
        line=wo.line if wo else None,
        lots=[
            LotRead(kind=lot.kind, code=lot.code, supplier=lot.supplier, source=mm.source)
            for mm, lot in traceability_repo.lots_of_module(session, module.id)
        ],
        shipment=ShipmentRead.model_validate(ship) if ship else None,
        latest_verdict_by_string=history.latest_verdict_by_string,
        inspections=history.inspections,
        loops=rework.loops_of_module(session, module.id),
        holds=rework.holds(session, module_id=module.id),
        events=rework.events_of_module(session, module.id),
        escapes=rework.escapes_of_module(session, module.id),
        complaints=complaints if complaints_visible else [],
        complaints_not_shown=0 if complaints_visible else len(complaints),
    )
