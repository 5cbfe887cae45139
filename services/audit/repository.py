"""Reading the audit trail (SQLAlchemy 2 select()); entries are only ever added by service.record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.audit.orm import AuditEntry


def entries(
    *,
    session: Session,
    offset: int,
    limit: int,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Sequence[AuditEntry], int]:
    """Newest first, filtered: one entity (and id), who, an action or its prefix ("hold." = every hold action), [since, until)."""
    conds = []
    if entity:
        conds.append(AuditEntry.entity == entity)
    if entity_id:
        conds.append(AuditEntry.entity_id == entity_id)
    if actor:
        conds.append(AuditEntry.actor == actor)
    if action:
        conds.append(AuditEntry.action.startswith(action) if action.endswith(".") else AuditEntry.action == action)
    if since:
        conds.append(AuditEntry.at >= since)
    if until:
        conds.append(AuditEntry.at < until)
    stmt = select(AuditEntry).where(*conds)
    count = select(func.count(AuditEntry.id)).where(*conds)
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).offset(offset).limit(limit)).all()
    return rows, int(session.scalar(count) or 0)
