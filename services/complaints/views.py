"""Read models of complaints and 8D cases: lists, the case to work on, the customer report."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.complaints import eight_d
from services.complaints.orm import Attachment, Complaint, ComplaintModule, Discipline, EightDCase
from services.complaints.schemas import (
    AttachmentRead,
    CaseRead,
    CaseStatus,
    CaseSummary,
    ComplaintRead,
    DisciplineRead,
    DisciplineStatus,
    EvidenceRow,
    FieldRead,
)
from services.complaints.service import overdue
from services.core.errors import NotFound
from services.core.time import utcnow
from services.inspection.orm import Inspection, Module
from services.inspection.schemas import ModuleStatus
from services.traceability.containment import containment
from services.traceability.orm import Shipment, WorkOrder
from services.traceability.schemas import ContainmentQuery


def complaint_read(session: Session, c: Complaint) -> ComplaintRead:
    """One complaint with its barcodes (known and unknown), attachments and case."""
    mods = session.execute(
        select(ComplaintModule.barcode, ComplaintModule.module_id)
        .where(ComplaintModule.complaint_id == c.id)
        .order_by(ComplaintModule.id)
    ).all()
    atts = session.scalars(select(Attachment).where(Attachment.complaint_id == c.id).order_by(Attachment.id)).all()
    case = session.scalar(select(EightDCase.number).where(EightDCase.id == c.case_id)) if c.case_id else None
    return ComplaintRead(
        number=c.number, customer=c.customer, project=c.project, site=c.site, received_at=c.received_at, channel=c.channel,
        symptom=c.symptom, severity=c.severity, description=c.description, justified=c.justified,
        judgement_reason=c.judgement_reason, judged_by=c.judged_by, case=case, barcodes=[b for b, _ in mods],
        unknown_barcodes=[b for b, mid in mods if mid is None], created_by=c.created_by, created_at=c.created_at,
        attachments=[AttachmentRead.model_validate(a, from_attributes=True) for a in atts],
    )  # fmt: skip


def get_complaint(session: Session, number: str) -> ComplaintRead:
    """A complaint by number."""
    c = session.scalar(select(Complaint).where(Complaint.number == number))
    if c is None:
        raise NotFound(f"no complaint {number}")
    return complaint_read(session, c)


def list_complaints(
    session: Session, *, offset: int = 0, limit: int = 50, customer: str | None = None
) -> tuple[list[ComplaintRead], int]:
    """Newest first."""
    stmt, count = select(Complaint), select(func.count(Complaint.id))
    if customer:
        stmt, count = stmt.where(Complaint.customer == customer), count.where(Complaint.customer == customer)
    rows = session.scalars(stmt.order_by(Complaint.received_at.desc(), Complaint.id.desc()).offset(offset).limit(limit)).all()
    return [complaint_read(session, c) for c in rows], int(session.scalar(count) or 0)


def _summary(case: EightDCase, ds: list[Discipline], complaints: list[str], now: datetime) -> dict[str, Any]:
    nxt = next((d for d in sorted(ds, key=lambda d: eight_d.CODES.index(d.code)) if d.status != DisciplineStatus.COMPLETED), None)
    return dict(
        number=case.number, title=case.title, status=case.status, opened_at=case.opened_at, first_response_at=case.first_response_at,
        closed_at=case.closed_at, next_open=nxt.code if nxt else None, next_due_at=nxt.due_at if nxt else None,
        overdue=overdue(ds, now), owners=sorted({d.owner for d in ds if d.owner}), complaints=complaints,
    )  # fmt: skip


def list_cases(session: Session, *, status: str | None = None, owner: str | None = None, overdue_only: bool = False,
               limit: int = 200) -> list[CaseSummary]:  # fmt: skip
    """Cases, most urgent first (overdue, then next due date); `owner`: cases they opened or own a discipline of."""
    stmt = select(EightDCase)
    if status:
        stmt = stmt.where(EightDCase.status == status)
    if owner:
        stmt = stmt.where(
            (EightDCase.created_by == owner) | EightDCase.id.in_(select(Discipline.case_id).where(Discipline.owner == owner))
        )
    cases = session.scalars(stmt.order_by(EightDCase.id.desc()).limit(limit)).all()
    if not cases:
        return []
    ids = [c.id for c in cases]
    ds: dict[int, list[Discipline]] = {}
    for d in session.scalars(select(Discipline).where(Discipline.case_id.in_(ids))):
        ds.setdefault(d.case_id, []).append(d)
    comps: dict[int, list[str]] = {}
    for cid, num in session.execute(
        select(Complaint.case_id, Complaint.number).where(Complaint.case_id.in_(ids)).order_by(Complaint.id)
    ):
        comps.setdefault(cid, []).append(num)
    now = utcnow()
    out = [CaseSummary(**_summary(c, ds.get(c.id, []), comps.get(c.id, []), now)) for c in cases]
    if overdue_only:
        out = [c for c in out if c.overdue]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda c: (not c.overdue, c.status == CaseStatus.CLOSED, c.next_due_at or far))
    return out


def get_case(session: Session, number: str) -> CaseRead:
    """A case with every discipline: fields, data, what blocks completion, due / overdue."""
    case = session.scalar(select(EightDCase).where(EightDCase.number == number))
    if case is None:
        raise NotFound(f"no 8D case {number}")
    ds = sorted(
        session.scalars(select(Discipline).where(Discipline.case_id == case.id)), key=lambda d: eight_d.CODES.index(d.code)
    )
    complaints = list(session.scalars(select(Complaint.number).where(Complaint.case_id == case.id).order_by(Complaint.id)))
    now = utcnow()
    late = set(overdue(ds, now))
    disciplines = [
        DisciplineRead(
            code=d.code,
            title=eight_d.BY_CODE[d.code].title,
            status=d.status,
            owner=d.owner,
            due_at=d.due_at,
            overdue=d.code in late,
            completed_at=d.completed_at,
            completed_by=d.completed_by,
            approved_by=d.approved_by,
            fields=[
                FieldRead(name=f.name, label=f.label, kind=f.kind, required=f.required) for f in eight_d.BY_CODE[d.code].fields
            ],
            data=d.data,
            missing=eight_d.missing_fields(d.code, d.data),
        )  # fmt: skip
        for d in ds
    ]
    return CaseRead(**_summary(case, ds, complaints, now), reopened_count=case.reopened_count, created_by=case.created_by,
                    disciplines=disciplines)  # fmt: skip


def case_module_ids(session: Session, number: str) -> list[int]:
    """Known modules of every complaint of a case."""
    return list(
        session.scalars(
            select(ComplaintModule.module_id)
            .join(Complaint, Complaint.id == ComplaintModule.complaint_id)
            .join(EightDCase, EightDCase.id == Complaint.case_id)
            .where(EightDCase.number == number, ComplaintModule.module_id.is_not(None))
            .distinct()
        )
    )


LOCATION_OF_STATUS = {ModuleStatus.SHIPPED: "customer", ModuleStatus.STOCK: "warehouse", ModuleStatus.WIP: "wip",
                      ModuleStatus.HOLD: "wip", ModuleStatus.SCRAPPED: None}  # fmt: skip


def d3_suspects(session: Session, number: str) -> dict[str, Any]:
    """The suspect population for D3: modules sharing work order / lots / station + shift with the complained ones."""
    barcodes = list(
        session.scalars(
            select(Module.barcode)
            .join(ComplaintModule, ComplaintModule.module_id == Module.id)
            .join(Complaint, Complaint.id == ComplaintModule.complaint_id)
            .join(EightDCase, EightDCase.id == Complaint.case_id)
            .where(EightDCase.number == number)
            .distinct()
        )
    )
    if not barcodes:
        return {
            "query": None,
            "total": 0,
            "by_location": {loc: 0 for loc in eight_d.LOCATIONS},
            "by_status": {},
            "by_customer": {},
        }
    q = ContainmentQuery(barcodes=barcodes[:1000])
    result = containment(session=session, query=q, limit=0)
    by_location: Counter[str] = Counter({loc: 0 for loc in eight_d.LOCATIONS})
    for status, n in result.by_status.items():
        loc = LOCATION_OF_STATUS.get(status)
        if loc:
            by_location[loc] += n
    return {"query": q.model_dump(mode="json"), "total": result.total, "by_location": dict(by_location), "by_status": result.by_status,
            "by_customer": result.by_customer, "criteria": result.criteria}  # fmt: skip


def evidence(session: Session, number: str) -> list[EvidenceRow]:
    """Traceability evidence for the report: each complained module's work order, string EL verdicts, station, shift, shipment."""
    rows = session.execute(
        select(ComplaintModule.barcode, Module.id, Module.product_code, WorkOrder.code, Shipment.customer, Shipment.shipped_at)
        .join(Complaint, Complaint.id == ComplaintModule.complaint_id)
        .join(EightDCase, EightDCase.id == Complaint.case_id)
        .outerjoin(Module, Module.id == ComplaintModule.module_id)
        .outerjoin(WorkOrder, WorkOrder.id == Module.work_order_id)
        .outerjoin(Shipment, Shipment.module_id == Module.id)
        .where(EightDCase.number == number)
        .order_by(ComplaintModule.barcode)
    ).all()
    ids = [r[1] for r in rows if r[1]]
    insp: dict[int, list[tuple[str, str, str | None, str]]] = {}
    if ids:
        for mid, st, shift, verdict, stage in session.execute(
            select(Inspection.module_id, Inspection.station_code, Inspection.shift, Inspection.verdict, Inspection.stage)
            .where(Inspection.module_id.in_(ids))
            .order_by(Inspection.captured_at)
        ):
            insp.setdefault(mid, []).append((stage, st, shift, verdict))
    out = []
    seen = set()
    for barcode, mid, product, wo, customer, shipped in rows:
        if barcode in seen:
            continue
        seen.add(barcode)
        xs = insp.get(mid, []) if mid else []
        verdicts = Counter(v for stage, _, _, v in xs if stage == "string_el")
        out.append(EvidenceRow(
            barcode=barcode, known=mid is not None, product=product, work_order=wo,
            string_el=", ".join(f"{k} {n}" for k, n in sorted(verdicts.items())) or "-",
            stations=", ".join(sorted({s for _, s, _, _ in xs})) or "-", shifts=", ".join(sorted({sh for _, _, sh, _ in xs if sh})) or "-",
            customer=customer, shipped_at=shipped,
        ))  # fmt: skip
    return out
