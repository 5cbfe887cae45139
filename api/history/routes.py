"""A module's whole record over JSON."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ERRORS, AnyPerson, BarcodePath, SessionDep, line_scope
from services.history.record import module_record
from services.history.schemas import ModuleRecord
from services.security.service import Role

router = APIRouter(prefix="/api/v1", tags=["traceability"], responses=ERRORS)


@router.get("/modules/{barcode}")
def get_module(barcode: BarcodePath, session: SessionDep, p: AnyPerson) -> ModuleRecord:
    """Everything about a module: context, lots, every image's verdict and defects, loops, holds, who did what, shipment."""
    return module_record(session=session, barcode=barcode, line=line_scope(p), complaints_visible=p.role != Role.OPERATOR)
