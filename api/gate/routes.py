"""GET /api/v1/gate/{barcode}?operation=...: PASS or BLOCK with every reason (MES client keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ERRORS, BarcodePath, MesDep, SessionDep, get_settings
from services.gate import service
from services.gate.schemas import GateAnswer, Operation

router = APIRouter(prefix="/api/v1", tags=["gate"], responses=ERRORS)


@router.get("/gate/{barcode}")
def gate(
    barcode: BarcodePath,
    request: Request,
    session: SessionDep,
    client: MesDep,
    operation: Annotated[Operation, Query()],
) -> GateAnswer:
    """May this module go on to `operation`? Every BLOCK is recorded and published as an event."""
    return service.ask(
        session=session,
        barcode=barcode,
        operation=operation,
        asked_by=f"mes:{client.code}",
        config=get_settings(request).gate_checks,
    )
