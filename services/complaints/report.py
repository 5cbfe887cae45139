"""The 8D report a customer receives: every discipline, containment numbers, evidence from traceability, attachments."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from services.complaints import repository as repo
from services.complaints.schemas import CaseRead, ComplaintRead, EvidenceRow
from services.complaints.views import complaint_reads, evidence, get_case
from services.core.time import utcnow


class Report(BaseModel):
    """What the printed 8D report shows."""

    case: CaseRead
    complaints: list[ComplaintRead]
    evidence: list[EvidenceRow]
    containment: list[dict[str, object]]
    generated_at: datetime


def build_report(session: Session, number: str) -> Report:
    """Everything the report shows, read in one transaction."""
    case = get_case(session, number)
    complaints = complaint_reads(session, repo.complaints_by_number(session, case.complaints))
    d3 = next(d for d in case.disciplines if d.code == "D3")
    rows = d3.data.get("locations") if isinstance(d3.data.get("locations"), list) else []
    return Report(case=case, complaints=complaints, evidence=evidence(session, number), containment=rows, generated_at=utcnow())
