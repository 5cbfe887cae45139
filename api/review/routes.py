"""The EL review over HTTP: the queue, one image's cells, a whole image reviewed in one call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import ERRORS, ReworkPerson, SessionDep, get_settings, station_scope
from services.review import service
from services.review.schemas import ReviewCreate, ReviewDone, ReviewQueue, ReviewString

router = APIRouter(prefix="/api/v1", tags=["review"], responses=ERRORS)
ResultId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-fA-F-]{1,64}$")]
StationQuery = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")]


@router.get("/review/queue")
def review_queue(request: Request, session: SessionDep, p: ReworkPerson, station: StationQuery = None) -> ReviewQueue:
    """REVIEW string images waiting for an EL operator (one station's, or all), oldest first."""
    overdue_s = get_settings(request).review_overdue_minutes * 60
    return service.queue(session=session, station=station, overdue_after_s=overdue_s, line=station_scope(session, p, station))


@router.get("/review/{result_id}")
def review_image(result_id: ResultId, session: SessionDep, p: ReworkPerson, station: StationQuery = None) -> ReviewString:
    """One image's doubtful cells with the decisions taken so far."""
    return service.review_string(session=session, result_id=result_id, line=station_scope(session, p, station))


@router.post("/review/{result_id}")
def review(result_id: ResultId, body: ReviewCreate, request: Request, session: SessionDep, p: ReworkPerson) -> ReviewDone:
    """Review a whole image: every doubtful cell DEFECT (class) or OK; it becomes NG (rework) or OK."""
    settings = get_settings(request)
    items = [service.CellInput(c.defect_id, c.decision, c.cls) for c in body.cells]
    return service.review_all(
        session=session,
        result_id=result_id,
        items=items,
        actor=p.username,
        station=body.station,
        loop_limit=settings.rework_loop_limit,
        plant_timezone=settings.plant_timezone,
        line=station_scope(session, p, body.station),
    )
