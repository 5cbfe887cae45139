"""The landing page: recent results."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import AnyPerson, SessionDep, line_scope
from api.render import render
from services.inspection import service as inspections

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, user: AnyPerson) -> Response:
    """Recent results (an operator's line only)."""
    page = inspections.list_inspections(session=session, offset=0, limit=50, line=line_scope(user))
    return render(request, "home.html", user=user, inspections=page.items)
