"""Reading the audit trail (there is deliberately no route to change it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from api.deps import ERRORS, SessionDep, require
from services.audit.service import entries
from services.inspection.schemas import Page
from services.security.service import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERRORS)


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None


@router.get("/audit")
def get_audit(
    session: SessionDep,
    _p: Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER))],
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AuditRead]:
    """The audit trail, newest first (quality engineers and admins)."""
    rows, total = entries(session=session, offset=offset, limit=limit, entity=entity, entity_id=entity_id)
    return Page[AuditRead](items=[AuditRead.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)
