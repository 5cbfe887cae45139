"""A module's whole life on one page / one API call."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.complaints.orm import Complaint, ComplaintModule, EightDCase
from services.core.errors import NotFound
from services.inspection import repository as inspection_repo
from services.inspection.service import module_history
from services.rework import views as rework
from services.traceability.orm import MaterialLot, ModuleMaterial, Product, Shipment, WorkOrder
from services.traceability.schemas import LotRead, ModuleRecord, ShipmentRead


def module_record(*, session: Session, barcode: str, line: str | None = None) -> ModuleRecord:
    """Context, inspections with defects, rework loops and dispositions, holds, events, escapes, shipment."""
    module = inspection_repo.module_by_barcode(session, barcode, line=line)
    if module is None:
        raise NotFound(f"unknown barcode {barcode!r}")
    history = module_history(session=session, barcode=barcode, line=line)
    wo = session.get(WorkOrder, module.work_order_id) if module.work_order_id else None
    product = session.scalar(select(Product).where(Product.code == module.product_code)) if module.product_code else None
    lots = [
        LotRead(kind=lot.kind, code=lot.code, supplier=lot.supplier, source=mm.source)
        for mm, lot in session.execute(
            select(ModuleMaterial, MaterialLot)
            .join(MaterialLot, MaterialLot.id == ModuleMaterial.lot_id)
            .where(ModuleMaterial.module_id == module.id)
            .order_by(MaterialLot.kind, ModuleMaterial.id)
        ).all()
    ]
    ship = session.scalar(select(Shipment).where(Shipment.module_id == module.id))
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
        lots=lots,
        shipment=ShipmentRead(customer=ship.customer, delivery_no=ship.delivery_no, site=ship.site, shipped_at=ship.shipped_at)
        if ship
        else None,
        latest_verdict_by_string=history.latest_verdict_by_string,
        inspections=history.inspections,
        loops=rework.loops_of_module(session, module.id),
        holds=rework.holds(session, module_id=module.id),
        events=rework.events_of_module(session, module.id),
        escapes=rework.escapes_of_module(session, module.id),
        complaints=_complaints(session, module.id),
    )


def _complaints(session: Session, module_id: int) -> list[dict[str, object]]:
    rows = session.execute(
        select(
            Complaint.number, Complaint.customer, Complaint.received_at, Complaint.symptom, Complaint.justified, EightDCase.number
        )
        .join(ComplaintModule, ComplaintModule.complaint_id == Complaint.id)
        .outerjoin(EightDCase, EightDCase.id == Complaint.case_id)
        .where(ComplaintModule.module_id == module_id)
        .order_by(Complaint.received_at)
    ).all()
    return [
        {"number": n, "customer": c, "received_at": at, "symptom": sym, "justified": j, "case": case}
        for n, c, at, sym, j, case in rows
    ]
