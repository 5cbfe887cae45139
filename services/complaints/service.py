"""Complaints and 8D cases: create, judge, attach, work the disciplines, close with approval, reopen."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.complaints import eight_d
from services.complaints import repository as repo
from services.complaints.orm import Attachment, Complaint, ComplaintModule, Discipline, EightDCase
from services.complaints.orm import Sequence as NumberSequence
from services.complaints.schemas import CaseStatus, Channel, DisciplineStatus, Severity, Symptom
from services.contracts.result import BARCODE_PATTERN, normalise_barcode
from services.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.events.schemas import EventType
from services.events.service import emit
from services.imagestore.store import BlobStore, sniff_content_type
from services.security.service import owner_role

CHANNELS = tuple(c.value for c in Channel)
SEVERITIES = tuple(s.value for s in Severity)
SYMPTOMS = tuple(s.value for s in Symptom)
ATTACHMENT_TYPES = {"image/png", "image/jpeg", "image/tiff", "image/bmp", "application/pdf"}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_BARCODES = 5000
EVENT_BARCODES = 100  # a complaint event names its first barcodes; the rest are one API call away
_BARCODE = re.compile(BARCODE_PATTERN)


def next_number(session: Session, prefix: str) -> str:
    """C-2026-0001, 8D-2026-0001: per prefix and year, under a row lock so two requests never share one."""
    name = f"{prefix}-{utcnow().year}"
    row = repo.sequence_for_update(session, name)
    if row is None:
        row = NumberSequence(name=name, value=0)
        session.add(row)
    row.value += 1
    session.flush()
    return f"{name}-{row.value:04d}"


def parse_barcodes(text: str) -> list[str]:
    """Barcodes typed, pasted or exported: split on whitespace, commas and semicolons; CSV header words dropped."""
    seen: dict[str, None] = {}
    for token in re.split(r"[\s,;]+", text):
        token = normalise_barcode(token.strip('"'))
        if token and token.lower() not in ("barcode", "serial", "module"):
            seen.setdefault(token, None)
    return list(seen)


def create_complaint(
    *,
    session: Session,
    customer: str,
    received_at: datetime,
    channel: str,
    symptom: str,
    severity: str,
    description: str,
    barcodes: Sequence[str],
    actor: str,
    due_hours: Mapping[str, int],
    project: str = "",
    site: str = "",
    case_number: str | None = None,
) -> tuple[Complaint, list[str]]:
    """Record a complaint, check its barcodes against traceability, start (or join) an 8D case.

    Returns the complaint and the barcodes traceability does not know (kept, listed, never dropped).
    """
    if channel not in CHANNELS:
        raise InvalidInput(N_("channel must be one of %(choices)s"), choices=", ".join(CHANNELS))
    if severity not in SEVERITIES:
        raise InvalidInput(N_("severity must be one of %(choices)s"), choices=", ".join(SEVERITIES))
    if symptom not in SYMPTOMS:
        raise InvalidInput(N_("symptom must be one of %(choices)s"), choices=", ".join(SYMPTOMS))
    if not customer.strip() or not description.strip():
        raise InvalidInput(N_("customer and description are required"))
    if received_at > utcnow() + timedelta(minutes=5):
        raise InvalidInput(N_("received date is in the future"))
    if received_at < utcnow() - timedelta(days=3660):
        raise InvalidInput(N_("received date is more than ten years ago"))
    typed = {normalise_barcode(b): b.strip() for b in reversed(barcodes)}  # normalised -> as typed (first wins)
    codes = list(dict.fromkeys(c for c in (normalise_barcode(b) for b in barcodes) if c))
    if not codes:
        raise InvalidInput(N_("a complaint names at least one module barcode"))
    if len(codes) > MAX_BARCODES:
        raise InvalidInput(N_("more than %(n)s barcodes: attach a list instead"), n=MAX_BARCODES)
    bad = [typed[b] for b in codes if not _BARCODE.match(b)]  # said as the person typed them
    if bad:
        raise InvalidInput(N_("not barcodes: %(values)s"), values=", ".join(bad[:10]))
    case = None
    if case_number:
        case = repo.case_by_number(session, case_number)
        if case is None:
            raise NotFound(N_("no 8D case %(case)s"), case=case_number)
        if case.status == CaseStatus.CLOSED:
            raise Conflict(N_("8D case %(case)s is closed; reopen it first"), case=case_number)
    complaint = Complaint(
        number=next_number(session, "C"),
        customer=customer.strip(),
        project=project.strip(),
        site=site.strip(),
        received_at=received_at,
        channel=channel,
        symptom=symptom,
        severity=severity,
        description=description.strip(),
        created_by=actor,
    )
    session.add(complaint)
    session.flush()
    known = repo.module_ids_by_barcode(session, codes)
    session.add_all(ComplaintModule(complaint_id=complaint.id, barcode=b, module_id=known.get(b)) for b in codes)
    unknown = [b for b in codes if b not in known]
    if case is None:
        case = open_case(
            session=session, title=f"{complaint.customer}: {symptom.replace('_', ' ')}", actor=actor, due_hours=due_hours
        )
    complaint.case_id = case.id
    emit(
        session=session,
        type=EventType.COMPLAINT_RECEIVED,
        subject=complaint.number,
        data={
            "number": complaint.number,
            "customer": complaint.customer,
            "received_at": received_at.isoformat(),
            "symptom": symptom,
            "severity": severity,
            "case": case.number,
            "modules": len(codes),
            "barcodes": codes[:EVENT_BARCODES],
            "unknown_barcodes": len(unknown),
        },
    )
    audit(
        session=session,
        actor=actor,
        action="complaint.create",
        entity="complaint",
        entity_id=complaint.number,
        after={"customer": complaint.customer, "barcodes": len(codes), "unknown": unknown[:50], "case": case.number},
    )
    return complaint, unknown


def open_case(*, session: Session, title: str, actor: str, due_hours: Mapping[str, int]) -> EightDCase:
    """A new 8D case with D0..D8 and their due dates."""
    now = utcnow()
    case = EightDCase(
        number=next_number(session, "8D"), title=title[:200], status=CaseStatus.OPEN, opened_at=now, created_by=actor
    )
    session.add(case)
    session.flush()
    for code in eight_d.CODES:
        session.add(
            Discipline(
                case_id=case.id, code=code, status=DisciplineStatus.OPEN, due_at=now + timedelta(hours=due_hours[code]), data={}
            )
        )
    emit(
        session=session,
        type=EventType.CASE_OPENED,
        subject=case.number,
        data={"case": case.number, "title": case.title, "opened_by": actor, "due": _due(due_hours, now)},
    )
    audit(session=session, actor=actor, action="8d.open", entity="8d", entity_id=case.number, after={"title": case.title})
    return case


def _due(due_hours: Mapping[str, int], start: datetime) -> dict[str, str]:
    return {code: (start + timedelta(hours=due_hours[code])).isoformat() for code in eight_d.CODES}


def judge(*, session: Session, number: str, justified: bool, reason: str, actor: str) -> Complaint:
    """After analysis: justified or not (only justified complaints count in PPM)."""
    c = _complaint(session, number)
    if not reason.strip():
        raise InvalidInput(N_("a judgement needs a reason"))
    before = {"justified": c.justified}
    c.justified, c.judgement_reason, c.judged_by, c.judged_at = justified, reason.strip(), actor, utcnow()
    emit(
        session=session,
        type=EventType.COMPLAINT_JUDGED,
        subject=number,
        data={"number": number, "justified": justified, "reason": c.judgement_reason, "judged_by": actor},
    )
    audit(
        session=session,
        actor=actor,
        action="complaint.judge",
        entity="complaint",
        entity_id=number,
        before=before,
        after={"justified": justified},
        reason=reason,
    )
    return c


def add_attachment(*, session: Session, blobs: BlobStore, number: str, filename: str, data: bytes, actor: str) -> Attachment:
    """Store a photo / field EL image / PDF (type sniffed from the bytes, size capped)."""
    c = _complaint(session, number)
    if not data:
        raise InvalidInput(N_("empty file"))
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(N_("attachment over %(mib)s MiB"), mib=MAX_ATTACHMENT_BYTES // (1024 * 1024))
    ctype = "application/pdf" if data[:5] == b"%PDF-" else sniff_content_type(data)
    if ctype not in ATTACHMENT_TYPES:
        raise InvalidInput(N_("attachments must be PNG, JPEG, TIFF, BMP images or PDF documents"))
    sha = hashlib.sha256(data).hexdigest()
    blobs.put(sha, data)
    name = re.sub(r"[^A-Za-z0-9._\- ]", "_", filename)[:200] or "attachment"
    att = Attachment(complaint_id=c.id, filename=name, content_type=ctype, size_bytes=len(data), sha256=sha, uploaded_by=actor)
    session.add(att)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="complaint.attach",
        entity="complaint",
        entity_id=number,
        after={"file": name, "sha256": sha, "bytes": len(data)},
    )
    return att


def _complaint(session: Session, number: str) -> Complaint:
    c = repo.complaint_by_number(session, number)
    if c is None:
        raise NotFound(N_("no complaint %(number)s"), number=number)
    return c


def _case(session: Session, number: str, *, lock: bool = False) -> EightDCase:
    case = repo.case_by_number(session, number, for_update=lock)
    if case is None:
        raise NotFound(N_("no 8D case %(case)s"), case=number)
    return case


def _discipline(session: Session, case: EightDCase, code: str) -> Discipline:
    if code not in eight_d.BY_CODE:
        raise NotFound(N_("no discipline %(code)s (D0..D8)"), code=code)
    d = repo.discipline(session, case.id, code)
    if d is None:  # every case is opened with all nine disciplines; a missing one is a data fault, said as such
        raise NotFound(N_("8D case %(case)s has no discipline %(code)s"), case=case.number, code=code)
    return d


def save_discipline(
    *,
    session: Session,
    number: str,
    code: str,
    actor: str,
    data: dict[str, Any] | None = None,
    owner: str | None = None,
    due_at: datetime | None = None,
    may_move_due_dates: bool = False,
) -> Discipline:
    """Save fields (merged), the owner or the due date of an open discipline.

    Only a quality engineer moves a due date (`may_move_due_dates`), and not before the case opened or
    more than a year after: otherwise lateness could be hidden by whoever is late.
    """
    case = _case(session, number, lock=True)
    d = _discipline(session, case, code)
    if case.status == CaseStatus.CLOSED:
        raise Conflict(N_("8D case %(case)s is closed; reopen it to change it"), case=number)
    if d.status == DisciplineStatus.COMPLETED:
        raise Conflict(N_("%(code)s is completed; it cannot change unless the case is reopened"), code=code)
    before = {"data": d.data, "owner": d.owner, "due_at": d.due_at.isoformat()}
    if data:
        d.data = {**d.data, **eight_d.validate_data(code, data)}
    if owner is not None:
        name = owner.strip()
        if name and owner_role(session=session, username=name) is None:
            raise InvalidInput(
                N_("%(name)s cannot own %(code)s: not an active quality engineer, customer service or admin account"),
                name=name,
                code=code,
            )
        d.owner = name or None
    if due_at is not None and due_at != d.due_at:
        if not may_move_due_dates:
            raise Forbidden(N_("only a quality engineer moves an 8D due date"))
        if due_at < case.opened_at or due_at > case.opened_at + timedelta(days=366):
            raise InvalidInput(N_("a due date lies between the case's opening and one year after it"))
        d.due_at = due_at
    audit(
        session=session,
        actor=actor,
        action="8d.save",
        entity="8d",
        entity_id=f"{number}/{code}",
        before=before,
        after={"data": d.data, "owner": d.owner, "due_at": d.due_at.isoformat()},
    )
    return d


def complete_discipline(*, session: Session, number: str, code: str, actor: str, actor_is_quality_engineer: bool) -> Discipline:
    """Complete a discipline: required fields filled, the earlier ones completed, by its owner or a quality
    engineer; D8 needs a quality engineer's approval."""
    case = _case(session, number, lock=True)
    d = _discipline(session, case, code)
    if case.status == CaseStatus.CLOSED:
        raise Conflict(N_("8D case %(case)s is closed"), case=number)
    if d.status == DisciplineStatus.COMPLETED:
        raise Conflict(N_("%(code)s is already completed"), code=code)
    earlier = [x for x in eight_d.CODES[: eight_d.CODES.index(code)]]
    open_earlier = repo.open_disciplines(session, case.id, earlier)
    if open_earlier:
        raise Conflict(
            N_("%(code)s comes after %(earlier)s: complete those first"), code=code, earlier=", ".join(sorted(open_earlier))
        )
    missing = eight_d.missing_fields(code, d.data)
    if missing:
        raise InvalidInput(N_("%(code)s cannot be completed; required: %(missing)s"), code=code, missing="; ".join(missing))
    if not d.owner:
        raise InvalidInput(N_("%(code)s needs an owner"), code=code)
    if d.owner != actor and not actor_is_quality_engineer:
        raise Forbidden(
            N_("%(code)s is owned by %(owner)s: only they or a quality engineer complete it"), code=code, owner=d.owner
        )
    if code == "D8" and not actor_is_quality_engineer:
        raise Forbidden(N_("closing an 8D (D8) needs a quality engineer's approval"))
    now = utcnow()
    d.status, d.completed_at, d.completed_by = DisciplineStatus.COMPLETED, now, actor
    if code == "D8":
        d.approved_by = actor
        case.status, case.closed_at = CaseStatus.CLOSED, now
    if code == "D3" and case.first_response_at is None:
        case.first_response_at = now
    emit(
        session=session,
        type=EventType.DISCIPLINE_COMPLETED,
        subject=number,
        data={"case": number, "discipline": code, "completed_by": actor, "late": now > d.due_at, "case_status": str(case.status)},
    )
    if code == "D8":
        emit(session=session, type=EventType.CASE_CLOSED, subject=number, data={"case": number, "approved_by": actor})
    audit(
        session=session,
        actor=actor,
        action="8d.complete",
        entity="8d",
        entity_id=f"{number}/{code}",
        before={"status": "open"},
        after={"status": "completed", "case": case.status},
    )
    return d


def reopen_case(*, session: Session, number: str, reason: str, actor: str, due_hours: Mapping[str, int]) -> EightDCase:
    """Recurrence: a closed case opens again; D4..D8 go back to work with new due dates from now."""
    case = _case(session, number, lock=True)
    if case.status != CaseStatus.CLOSED:
        raise Conflict(N_("8D case %(case)s is %(status)s; only a closed case is reopened"), case=number, status=case.status)
    if not reason.strip():
        raise InvalidInput(N_("reopening needs a reason (the recurrence)"))
    now = utcnow()
    first = max(due_hours[c] for c in eight_d.FIRST_RESPONSE)
    for d in repo.disciplines_of(session, [case.id]).get(case.id, []):
        if d.code not in eight_d.REOPENED_BY_RECURRENCE:
            continue
        d.status, d.completed_at, d.completed_by, d.approved_by = DisciplineStatus.OPEN, None, None, None
        d.due_at = now + timedelta(hours=due_hours[d.code] - first)
    case.status, case.closed_at = CaseStatus.OPEN, None
    case.reopened_count += 1
    emit(
        session=session,
        type=EventType.CASE_REOPENED,
        subject=number,
        data={"case": number, "reason": reason.strip(), "reopened": case.reopened_count, "reopened_by": actor},
    )
    audit(
        session=session,
        actor=actor,
        action="8d.reopen",
        entity="8d",
        entity_id=number,
        before={"status": CaseStatus.CLOSED},
        after={"status": CaseStatus.OPEN, "reopened": case.reopened_count},
        reason=reason,
    )
    return case


def link_complaint(*, session: Session, number: str, case_number: str, actor: str) -> Complaint:
    """Put a complaint under another (open) case: one 8D for several complaints with the same problem."""
    c = _complaint(session, number)
    case = _case(session, case_number)
    if case.status == CaseStatus.CLOSED:
        raise Conflict(N_("8D case %(case)s is closed"), case=case_number)
    before = c.case_id
    c.case_id = case.id
    audit(
        session=session,
        actor=actor,
        action="complaint.link",
        entity="complaint",
        entity_id=number,
        before={"case_id": before},
        after={"case": case_number},
    )
    return c


def overdue(disciplines: Sequence[Discipline], now: datetime | None = None) -> list[str]:
    """Codes of the disciplines past their due date and not completed."""
    now = now or utcnow()
    return [d.code for d in disciplines if d.status != DisciplineStatus.COMPLETED and d.due_at < now]


def count_complaints(session: Session) -> int:
    """Number of complaints."""
    return repo.complaint_count(session)
