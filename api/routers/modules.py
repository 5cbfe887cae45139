"""Modules and their inspection history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from api.deps import ANY_PERSON, ERRORS, SessionDep, get_settings, line_scope, require
from services.contracts.result import BARCODE_PATTERN
from services.inspection import service
from services.inspection.repository import list_modules
from services.inspection.schemas import InspectionRead, Page
from services.security.service import Principal
from services.traceability.history import module_record
from services.traceability.schemas import ModuleRecord

router = APIRouter(prefix="/api/v1", tags=["traceability"], responses=ERRORS)
Reader = Annotated[Principal, Depends(require(*ANY_PERSON))]


class ModuleSummary(BaseModel):
    barcode: str
    created_at: datetime


@router.get("/modules/{barcode}")
def get_module(barcode: Annotated[str, Path(pattern=BARCODE_PATTERN)], session: SessionDep, p: Reader) -> ModuleRecord:
    """Everything about a module: context, lots, every image's verdict and defects, loops, holds, who did what, shipment."""
    return module_record(session=session, barcode=barcode, line=line_scope(p))


@router.get("/modules")
def get_modules(
    request: Request,
    session: SessionDep,
    p: Reader,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ModuleSummary]:
    """Modules, newest first (bounded pagination)."""
    rows, total = list_modules(session, offset=offset, limit=min(limit, get_settings(request).page_size_max), line=line_scope(p))
    items = [ModuleSummary(barcode=m.barcode, created_at=m.created_at) for m in rows]
    return Page[ModuleSummary](items=items, total=total, offset=offset, limit=limit)


@router.get("/inspections")
def get_inspections(
    session: SessionDep,
    p: Reader,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    verdict: Literal["OK", "REVIEW", "NG", "ERROR"] | None = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
    since: datetime | None = None,
) -> Page[InspectionRead]:
    """Inspections, newest first, filtered by verdict / station / time."""
    return service.list_inspections(
        session=session, offset=offset, limit=limit, verdict=verdict, station=station, since=since, line=line_scope(p)
    )
