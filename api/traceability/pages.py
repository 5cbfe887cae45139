"""Containment pages: the reverse query, its CSV, and holding the whole result set."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import Engineer, Investigator, SessionDep
from api.render import render
from api.traceability.routes import csv_response
from services.core.errors import DomainError
from services.rework import service as rework
from services.rework.schemas import HoldSource
from services.traceability import containment as cq
from services.traceability.schemas import ContainmentQuery

router = APIRouter(include_in_schema=False)


def _containment_query(params: dict[str, str]) -> ContainmentQuery | None:
    raw: dict[str, object] = {k: v.strip() for k, v in params.items() if v.strip() and k in ContainmentQuery.model_fields}
    if "barcodes" in raw:
        raw["barcodes"] = [b for b in re.split(r"[\s,;]+", str(raw["barcodes"])) if b]
    share = [s for s in ("work_order", "material_lot", "station_shift") if params.get(f"share_{s}")]
    if share or params.get("submitted"):
        raw["share"] = share
    return ContainmentQuery.model_validate(raw) if raw.keys() - {"share"} else None


@router.get("/containment", response_class=HTMLResponse)
def containment_page(request: Request, session: SessionDep, user: Investigator) -> Response:
    """The reverse query: suspects in, the modules that share their context out, with where each is now."""
    params = dict(request.query_params)
    result, error = None, None
    try:
        q = _containment_query(params)
        if q is not None:
            result = cq.containment(session=session, query=q, limit=500)
    except ValidationError as exc:
        error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    except DomainError as exc:
        error = exc.detail
    return render(
        request,
        "containment.html",
        status=400 if error else 200,
        user=user,
        params=params,
        result=result,
        error=error,
        query_string=request.url.query,
        held=params.get("held"),
    )


@router.get("/containment.csv")
def containment_csv_page(request: Request, session: SessionDep, user: Investigator) -> Response:
    """The page's result as CSV."""
    q = _containment_query(dict(request.query_params))
    if q is None:
        return RedirectResponse("/containment", status_code=303)
    return csv_response(cq.containment(session=session, query=q, limit=None))


@router.post("/containment/hold")
def containment_hold_page(
    request: Request,
    session: SessionDep,
    user: Engineer,
    query_string: Annotated[str, Form(max_length=20_000)],
    reason: Annotated[str, Form(min_length=3, max_length=500)],
) -> Response:
    """Hold the whole result set of the query shown on the page."""
    params = dict(parse_qsl(query_string))
    q = _containment_query(params)
    if q is None:
        return RedirectResponse("/containment", status_code=303)
    ids = cq.module_ids_of(session, q)
    held = rework.place_hold(session=session, module_ids=ids, source=HoldSource.CONTAINMENT, reason=reason, actor=user.username)
    params["held"] = f"{len(held)} of {len(ids)} modules put on hold"
    return RedirectResponse(f"/containment?{urlencode(params)}", status_code=303)
