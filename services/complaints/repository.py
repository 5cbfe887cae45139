"""Queries on complaints and 8D cases (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from services.complaints.orm import Attachment, Complaint, ComplaintModule, Discipline, EightDCase
from services.complaints.orm import Sequence as NumberSequence
from services.complaints.schemas import DisciplineStatus
from services.inspection.orm import Inspection, Module
from services.traceability.orm import Shipment, WorkOrder


def complaints_of_module(session: Session, module_id: int) -> Sequence[Row[Any]]:
    """(number, customer, received_at, symptom, justified, case) of every complaint naming the module, oldest first."""
    stmt = (
        select(
            Complaint.number,
            Complaint.customer,
            Complaint.received_at,
            Complaint.symptom,
            Complaint.justified,
            EightDCase.number.label("case"),
        )
        .join(ComplaintModule, ComplaintModule.complaint_id == Complaint.id)
        .outerjoin(EightDCase, EightDCase.id == Complaint.case_id)
        .where(ComplaintModule.module_id == module_id)
        .order_by(Complaint.received_at)
    )
    return session.execute(stmt).all()


# ---- numbers --------------------------------------------------------------------------------------


def sequence_for_update(session: Session, name: str) -> NumberSequence | None:
    """A numbering sequence, row-locked (numbers are handed out in the caller's transaction)."""
    return session.get(NumberSequence, name, with_for_update=True)


# ---- complaints -----------------------------------------------------------------------------------


def complaint_by_number(session: Session, number: str) -> Complaint | None:
    """A complaint by its number."""
    return session.scalar(select(Complaint).where(Complaint.number == number))


def complaints_by_number(session: Session, numbers: Collection[str]) -> Sequence[Complaint]:
    """Complaints by number, oldest first."""
    return session.scalars(select(Complaint).where(Complaint.number.in_(numbers)).order_by(Complaint.id)).all()


def complaints_page(
    session: Session,
    *,
    offset: int,
    limit: int,
    customer: str | None,
    symptom: str | None = None,
    justified: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Sequence[Complaint], int]:
    """Complaints newest first, and how many there are: by customer (part of the name), symptom,
    judgement ("yes", "no", "open") and received in [since, until)."""
    conds = []
    if customer:
        conds.append(func.lower(Complaint.customer).contains(customer.lower(), autoescape=True))
    if symptom:
        conds.append(Complaint.symptom == symptom)
    if justified == "open":
        conds.append(Complaint.justified.is_(None))
    elif justified in ("yes", "no"):
        conds.append(Complaint.justified.is_(justified == "yes"))
    if since:
        conds.append(Complaint.received_at >= since)
    if until:
        conds.append(Complaint.received_at < until)
    stmt, count = select(Complaint).where(*conds), select(func.count(Complaint.id)).where(*conds)
    rows = session.scalars(stmt.order_by(Complaint.received_at.desc(), Complaint.id.desc()).offset(offset).limit(limit)).all()
    return rows, int(session.scalar(count) or 0)


def complaint_count(session: Session) -> int:
    """How many complaints there are."""
    return int(session.scalar(select(func.count(Complaint.id))) or 0)


def barcodes_of(session: Session, complaint_ids: Collection[int]) -> dict[int, list[tuple[str, int | None]]]:
    """(barcode, module id or None when traceability does not know it) per complaint, in the order given."""
    out: dict[int, list[tuple[str, int | None]]] = {}
    if complaint_ids:
        stmt = (
            select(ComplaintModule.complaint_id, ComplaintModule.barcode, ComplaintModule.module_id)
            .where(ComplaintModule.complaint_id.in_(complaint_ids))
            .order_by(ComplaintModule.id)
        )
        for cid, barcode, mid in session.execute(stmt):
            out.setdefault(cid, []).append((barcode, mid))
    return out


def attachments_of(session: Session, complaint_ids: Collection[int]) -> dict[int, list[Attachment]]:
    """Attachments per complaint, in upload order."""
    out: dict[int, list[Attachment]] = {}
    if complaint_ids:
        stmt = select(Attachment).where(Attachment.complaint_id.in_(complaint_ids)).order_by(Attachment.id)
        for a in session.scalars(stmt):
            out.setdefault(a.complaint_id, []).append(a)
    return out


def module_ids_by_barcode(session: Session, barcodes: Collection[str]) -> dict[str, int]:
    """Module ids of the barcodes traceability knows."""
    if not barcodes:
        return {}
    return {b: mid for b, mid in session.execute(select(Module.barcode, Module.id).where(Module.barcode.in_(barcodes))).all()}


# ---- 8D cases -------------------------------------------------------------------------------------


def case_by_number(session: Session, number: str, *, for_update: bool = False) -> EightDCase | None:
    """An 8D case by number (row-locked for a state change when asked)."""
    stmt = select(EightDCase).where(EightDCase.number == number)
    return session.scalar(stmt.with_for_update() if for_update else stmt)


def case_numbers(session: Session, case_ids: Collection[int]) -> dict[int, str]:
    """Case numbers by id."""
    if not case_ids:
        return {}
    return {cid: n for cid, n in session.execute(select(EightDCase.id, EightDCase.number).where(EightDCase.id.in_(case_ids)))}


def cases(session: Session, *, status: str | None, owner: str | None, limit: int) -> Sequence[EightDCase]:
    """Cases newest first; `owner`: cases they opened or own a discipline of."""
    stmt = select(EightDCase)
    if status:
        stmt = stmt.where(EightDCase.status == status)
    if owner:
        owned = select(Discipline.case_id).where(Discipline.owner == owner)
        stmt = stmt.where((EightDCase.created_by == owner) | EightDCase.id.in_(owned))
    return session.scalars(stmt.order_by(EightDCase.id.desc()).limit(limit)).all()


def disciplines_of(session: Session, case_ids: Collection[int]) -> dict[int, list[Discipline]]:
    """Disciplines per case (in no particular order)."""
    out: dict[int, list[Discipline]] = {}
    if case_ids:
        for d in session.scalars(select(Discipline).where(Discipline.case_id.in_(case_ids))):
            out.setdefault(d.case_id, []).append(d)
    return out


def discipline(session: Session, case_id: int, code: str) -> Discipline | None:
    """One discipline of a case."""
    return session.scalar(select(Discipline).where(Discipline.case_id == case_id, Discipline.code == code))


def open_disciplines(session: Session, case_id: int, codes: Collection[str]) -> list[str]:
    """Which of these disciplines of the case are not completed yet."""
    stmt = select(Discipline.code).where(
        Discipline.case_id == case_id, Discipline.code.in_(codes), Discipline.status != DisciplineStatus.COMPLETED
    )
    return list(session.scalars(stmt).all())


def complaint_numbers_of(session: Session, case_ids: Collection[int]) -> dict[int, list[str]]:
    """Complaint numbers per case, oldest first."""
    out: dict[int, list[str]] = {}
    if case_ids:
        stmt = select(Complaint.case_id, Complaint.number).where(Complaint.case_id.in_(case_ids)).order_by(Complaint.id)
        for cid, num in session.execute(stmt):
            out.setdefault(cid, []).append(num)
    return out


def _of_case(number: str) -> Select[Any]:
    """Complained modules of a case's complaints (join helper)."""
    return (
        select(ComplaintModule)
        .join(Complaint, Complaint.id == ComplaintModule.complaint_id)
        .join(EightDCase, EightDCase.id == Complaint.case_id)
        .where(EightDCase.number == number)
    )


def case_barcodes(session: Session, number: str) -> list[str]:
    """Barcodes of the known modules of a case's complaints."""
    stmt = _of_case(number).with_only_columns(Module.barcode).join(Module, Module.id == ComplaintModule.module_id).distinct()
    return list(session.scalars(stmt))


def evidence_rows(session: Session, number: str) -> Sequence[Row[Any]]:
    """(barcode, module id, product, work order, customer, shipped at) of each complained module of a case."""
    stmt = (
        _of_case(number)
        .with_only_columns(
            ComplaintModule.barcode, Module.id, Module.product_code, WorkOrder.code, Shipment.customer, Shipment.shipped_at
        )
        .outerjoin(Module, Module.id == ComplaintModule.module_id)
        .outerjoin(WorkOrder, WorkOrder.id == Module.work_order_id)
        .outerjoin(Shipment, Shipment.module_id == Module.id)
        .order_by(ComplaintModule.barcode)
    )
    return session.execute(stmt).all()


def inspections_of(session: Session, module_ids: Collection[int]) -> dict[int, list[tuple[str, str, str | None, str]]]:
    """(stage, station, shift, verdict) of every inspection per module, oldest first."""
    out: dict[int, list[tuple[str, str, str | None, str]]] = {}
    if module_ids:
        stmt = (
            select(Inspection.module_id, Inspection.station_code, Inspection.shift, Inspection.verdict, Inspection.stage)
            .where(Inspection.module_id.in_(module_ids))
            .order_by(Inspection.captured_at)
        )
        for mid, station, shift, verdict, stage in session.execute(stmt):
            out.setdefault(mid, []).append((stage, station, shift, verdict))
    return out
