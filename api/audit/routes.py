"""Reading the audit trail (there is deliberately no route to change it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ERRORS, Engineer, SessionDep
from services.audit.repository import entries
from services.audit.schemas import AuditRead
from services.core.pagination import Page

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERRORS)


@router.get("/audit")
def get_audit(
    session: SessionDep,
    _p: Engineer,
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AuditRead]:
    """The audit trail, newest first (quality engineers and admins)."""
    rows, total = entries(session=session, offset=offset, limit=limit, entity=entity, entity_id=entity_id)
    return Page[AuditRead](items=[AuditRead.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)
