"""Writing and reading the audit trail; written in the caller's transaction, never on its own."""

from __future__ import annotations

from typing import Any

import structlog
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
