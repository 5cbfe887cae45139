"""Writing and reading the audit trail; written in the caller's transaction, never on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.audit.orm import AuditEntry


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Add an entry to the current transaction: it commits, or rolls back, with the change itself."""
    rid = structlog.contextvars.get_contextvars().get("request_id")
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after,
            reason=reason,
            request_id=rid,
        )
    )


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
