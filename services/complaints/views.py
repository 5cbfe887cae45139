"""Read models of complaints and 8D cases: lists, the case to work on, the customer report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.complaints import eight_d
from services.complaints import repository as repo
from services.complaints.orm import Complaint, Discipline, EightDCase
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
from services.contracts import Stage
from services.core.errors import NotFound
from services.core.i18n import N_
from services.core.reads import read
from services.core.time import utcnow
from services.inspection.schemas import ModuleStatus
from services.traceability.containment import containment
from services.traceability.schemas import ContainmentQuery


def complaint_read(session: Session, c: Complaint) -> ComplaintRead:
    """One complaint with its barcodes (known and unknown), attachments and case."""
    return complaint_reads(session, [c])[0]


def complaint_reads(session: Session, complaints: Sequence[Complaint]) -> list[ComplaintRead]:
    """Complaints with their barcodes, attachments and cases: a fixed number of queries for a whole page."""
    ids = [c.id for c in complaints]
    mods = repo.barcodes_of(session, ids)
    atts = repo.attachments_of(session, ids)
    cases = repo.case_numbers(session, {c.case_id for c in complaints if c.case_id})
    return [
        read(
            ComplaintRead,
            c,
            case=cases.get(c.case_id) if c.case_id else None,
            barcodes=[b for b, _ in mods.get(c.id, [])],
            unknown_barcodes=[b for b, mid in mods.get(c.id, []) if mid is None],
            attachments=[AttachmentRead.model_validate(a) for a in atts.get(c.id, [])],
        )
        for c in complaints
    ]


def get_complaint(session: Session, number: str) -> ComplaintRead:
    """A complaint by number."""
    c = repo.complaint_by_number(session, number)
    if c is None:
        raise NotFound(N_("no complaint %(number)s"), number=number)
    return complaint_read(session, c)


def list_complaints(
    session: Session,
    *,
    offset: int = 0,
    limit: int = 50,
    customer: str | None = None,
    symptom: str | None = None,
    justified: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[ComplaintRead], int]:
    """Newest first, filtered (see the repository's complaints_page)."""
    rows, total = repo.complaints_page(
        session, offset=offset, limit=limit, customer=customer, symptom=symptom, justified=justified, since=since, until=until
    )
    return complaint_reads(session, rows), total


def _summary(case: EightDCase, ds: list[Discipline], complaints: list[str], now: datetime) -> dict[str, Any]:
    nxt = next((d for d in sorted(ds, key=lambda d: eight_d.CODES.index(d.code)) if d.status != DisciplineStatus.COMPLETED), None)
    return dict(
        number=case.number,
        title=case.title,
        status=case.status,
        opened_at=case.opened_at,
        first_response_at=case.first_response_at,
        closed_at=case.closed_at,
        next_open=nxt.code if nxt else None,
        next_due_at=nxt.due_at if nxt else None,
        overdue=overdue(ds, now),
        owners=sorted({d.owner for d in ds if d.owner}),
        complaints=complaints,
    )


def list_cases(
    session: Session, *, status: str | None = None, owner: str | None = None, overdue_only: bool = False, limit: int = 200
) -> list[CaseSummary]:
    """Cases, most urgent first (overdue, then next due date); `owner`: cases they opened or own a discipline of."""
    cases = repo.cases(session, status=status, owner=owner, limit=limit)
    if not cases:
        return []
    ids = [c.id for c in cases]
    ds = repo.disciplines_of(session, ids)
    comps = repo.complaint_numbers_of(session, ids)
    now = utcnow()
    out = [CaseSummary(**_summary(c, ds.get(c.id, []), comps.get(c.id, []), now)) for c in cases]
    if overdue_only:
        out = [c for c in out if c.overdue]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda c: (not c.overdue, c.status == CaseStatus.CLOSED, c.next_due_at or far))
    return out


def get_case(session: Session, number: str) -> CaseRead:
    """A case with every discipline: fields, data, what blocks completion, due / overdue."""
    case = repo.case_by_number(session, number)
    if case is None:
        raise NotFound(N_("no 8D case %(number)s"), number=number)
    ds = sorted(repo.disciplines_of(session, [case.id]).get(case.id, []), key=lambda d: eight_d.CODES.index(d.code))
    complaints = repo.complaint_numbers_of(session, [case.id]).get(case.id, [])
    now = utcnow()
    late = set(overdue(ds, now))
    disciplines = [
        read(
            DisciplineRead,
            d,
            title=eight_d.BY_CODE[d.code].title,
            overdue=d.code in late,
            fields=[FieldRead.model_validate(f) for f in eight_d.BY_CODE[d.code].fields],
            missing=eight_d.missing_fields(d.code, d.data),
        )
        for d in ds
    ]
    return CaseRead(
        **_summary(case, ds, complaints, now),
        reopened_count=case.reopened_count,
        created_by=case.created_by,
        disciplines=disciplines,
    )


LOCATION_OF_STATUS = {
    ModuleStatus.SHIPPED: "customer",
    ModuleStatus.STOCK: "warehouse",
    ModuleStatus.WIP: "wip",
    ModuleStatus.HOLD: "wip",
    ModuleStatus.SCRAPPED: None,
}


def d3_suspects(session: Session, number: str) -> dict[str, Any]:
    """The suspect population for D3: modules sharing work order / lots / station + shift with the complained ones."""
    barcodes = repo.case_barcodes(session, number)
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
    return {
        "query": q.model_dump(mode="json"),
        "total": result.total,
        "by_location": dict(by_location),
        "by_status": result.by_status,
        "by_customer": result.by_customer,
        "criteria": result.criteria,
    }


def evidence(session: Session, number: str) -> list[EvidenceRow]:
    """Traceability evidence for the report: each complained module's work order, string EL verdicts, station, shift, shipment."""
    rows = repo.evidence_rows(session, number)
    insp = repo.inspections_of(session, [r[1] for r in rows if r[1]])
    out = []
    seen = set()
    for barcode, mid, product, wo, customer, shipped in rows:
        if barcode in seen:
            continue
        seen.add(barcode)
        xs = insp.get(mid, []) if mid else []
        verdicts = Counter(v for stage, _, _, v in xs if stage == Stage.STRING_EL)
        out.append(
            EvidenceRow(
                barcode=barcode,
                known=mid is not None,
                product=product,
                work_order=wo,
                string_el=", ".join(f"{k} {n}" for k, n in sorted(verdicts.items())) or "-",
                stations=", ".join(sorted({s for _, s, _, _ in xs})) or "-",
                shifts=", ".join(sorted({sh for _, _, sh, _ in xs if sh})) or "-",
                customer=customer,
                shipped_at=shipped,
            )
        )
    return out
