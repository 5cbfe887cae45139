"""Model versions and station assignments: quality engineers promote, shadow and roll back (audited)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ERRORS, Engineer, SessionDep
from api.plant import day_start_utc
from services.labels.compare import ShadowComparison, compare
from services.registry import service
from services.registry.schemas import AssignBody, AssignmentRead, ModelVersionRead, RollbackBody

router = APIRouter(prefix="/api/v1", tags=["models"], responses=ERRORS)
StationCode = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")]


@router.get("/models")
def list_models(session: SessionDep, p: Engineer) -> list[ModelVersionRead]:
    """Every registered model version, newest first, with the stations running it live or in shadow."""
    return service.versions(session=session)


@router.get("/stations/{code}/models")
def station_models(code: StationCode, session: SessionDep, p: Engineer) -> list[AssignmentRead]:
    """Every model a station ran, live and shadow, newest first (the current ones have no end)."""
    return service.station_history(session=session, station=code)


@router.post("/stations/{code}/models", status_code=201)
def assign_model(code: StationCode, body: AssignBody, session: SessionDep, p: Engineer) -> AssignmentRead:
    """Promote a registered version to live at a station, or start it in shadow there (audited)."""
    return service.assign(
        session=session, station=code, name=body.name, version=body.version, role=body.role, actor=p.username, reason=body.reason
    )


@router.post("/stations/{code}/models/rollback")
def rollback_model(code: StationCode, body: RollbackBody, session: SessionDep, p: Engineer) -> AssignmentRead:
    """Return a station to the model it ran live before the current one (audited); the edge switches within one poll."""
    return service.rollback(session=session, station=code, actor=p.username, reason=body.reason)


@router.post("/stations/{code}/models/shadow/stop")
def stop_shadow(code: StationCode, body: RollbackBody, session: SessionDep, p: Engineer) -> AssignmentRead:
    """End the station's shadow model (audited): the edge stops running it within one poll."""
    return service.stop_shadow(session=session, station=code, actor=p.username, reason=body.reason)


@router.get("/stations/{code}/models/compare")
def compare_models(
    code: StationCode,
    session: SessionDep,
    p: Engineer,
    since: Annotated[date | None, Query(description="first plant day")] = None,
    until: Annotated[date | None, Query(description="last plant day (included)")] = None,
) -> ShadowComparison:
    """Live vs shadow on the station's images: agreement, would-have-missed / false-called against the floor's labels."""
    start = day_start_utc(since) if since else None
    end = day_start_utc(until + timedelta(days=1)) if until else None
    return compare(session=session, station=code, since=start, until=end)
