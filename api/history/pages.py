"""The module page: a module's whole life."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import AnyPerson, SessionDep, line_scope
from api.render import render
from services.contracts.result import normalise_barcode
from services.history.record import module_record
from services.security.service import Role

router = APIRouter(include_in_schema=False)


@router.get("/modules")
def module_lookup(_user: AnyPerson, barcode: Annotated[str, Query(max_length=200)] = "") -> Response:
    """The header's barcode search: to the module's page (Caps Lock and stray characters forgiven)."""
    code = normalise_barcode(barcode)[:64]
    return RedirectResponse(f"/modules/{quote(code, safe='')}" if code else "/", status_code=303)


@router.get("/modules/{barcode}", response_class=HTMLResponse)
def module_page(barcode: str, request: Request, session: SessionDep, user: AnyPerson) -> Response:
    """Images with overlays, verdicts, loops, dispositions, context, lots, shipment (unknown barcode: the error page)."""
    record = module_record(
        session=session,
        barcode=normalise_barcode(barcode)[:64],
        line=line_scope(user),
        complaints_visible=user.role != Role.OPERATOR,
    )
    return render(request, "module.html", user=user, record=record, error=None)
