"""Reading the audit trail (SQLAlchemy 2 select()); entries are only ever added by service.record."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.audit.orm import AuditEntry


def entries(
    *, session: Session, offset: int, limit: int, entity: str | None = None, entity_id: str | None = None
) -> tuple[Sequence[AuditEntry], int]:
    """Newest first, optionally for one entity."""
    stmt = select(AuditEntry)
    count = select(func.count(AuditEntry.id))
    if entity:
        stmt, count = stmt.where(AuditEntry.entity == entity), count.where(AuditEntry.entity == entity)
    if entity_id:
        stmt, count = stmt.where(AuditEntry.entity_id == entity_id), count.where(AuditEntry.entity_id == entity_id)
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).offset(offset).limit(limit)).all()
    return rows, int(session.scalar(count) or 0)
