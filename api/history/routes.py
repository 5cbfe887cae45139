"""A module's whole record over JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import ERRORS, AnyPerson, SessionDep, line_scope
from services.contracts.result import BARCODE_PATTERN
from services.history.record import module_record
from services.history.schemas import ModuleRecord
from services.security.service import Role

router = APIRouter(prefix="/api/v1", tags=["traceability"], responses=ERRORS)


@router.get("/modules/{barcode}")
def get_module(barcode: Annotated[str, Path(pattern=BARCODE_PATTERN)], session: SessionDep, p: AnyPerson) -> ModuleRecord:
    """Everything about a module: context, lots, every image's verdict and defects, loops, holds, who did what, shipment."""
    return module_record(session=session, barcode=barcode, line=line_scope(p), complaints_visible=p.role != Role.OPERATOR)
