"""Stations: list (quality engineers, admins) and change name / factory / line (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import ERRORS, Admin, Engineer, SessionDep
from services.devices.schemas import StationRead, StationUpdate
from services.devices.service import stations, update_station

router = APIRouter(prefix="/api/v1", tags=["stations"], responses=ERRORS)
Code = Annotated[str, Path(max_length=40)]


@router.get("/stations")
def get_stations(session: SessionDep, _p: Engineer) -> list[StationRead]:
    """Every station with its line and the devices registered at it (`eltrace devices add --station S --line L`)."""
    return stations(session=session)


@router.put("/stations/{code}")
def put_station(code: Code, body: StationUpdate, session: SessionDep, p: Admin) -> StationRead:
    """Rename a station or move it to another line (audited)."""
    return update_station(session=session, code=code, change=body, actor=p.username)
