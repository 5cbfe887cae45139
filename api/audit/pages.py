"""The audit trail page for quality engineers and admins."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import Engineer, SessionDep
from api.render import render
from services.audit.repository import entries

router = APIRouter(include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, user: Engineer, offset: int = 0) -> Response:
    """The audit trail, 100 entries a page."""
    rows, total = entries(session=session, offset=max(0, offset), limit=100)
    return render(request, "audit.html", user=user, entries=rows, total=total, offset=max(0, offset))
