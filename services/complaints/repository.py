"""Queries on complaints and 8D cases (SQLAlchemy 2 select())."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from services.complaints.orm import Complaint, ComplaintModule, EightDCase


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
