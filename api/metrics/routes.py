"""Quality figures over JSON: the dashboard (yield, rework, false calls, escapes, p-charts) and complaint PPM."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api import plant
from api.deps import ERRORS, Engineer, Instant, SessionDep, Staff, get_settings
from api.i18n import N_
from services.core.errors import InvalidInput
from services.core.time import utcnow
from services.drift.schemas import DriftWatch
from services.drift.service import watch
from services.metrics import ppm as metrics
from services.metrics.dashboard import Dashboard, dashboard
from services.metrics.schemas import DefinitionCreate, DefinitionRead

router = APIRouter(prefix="/api/v1", tags=["metrics"], responses=ERRORS)
Month = Annotated[str, Query(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$")]


@router.get("/dashboard")
def get_dashboard(
    request: Request,
    session: SessionDep,
    p: Engineer,
    since: Instant | None = None,
    until: Instant | None = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
) -> Dashboard:
    """Yield, rework rate, Pareto, loops, repair time, false calls and escapes, p-charts (default: last 14 days).

    Figures per day are per plant-calendar day (ELTRACE_PLANT_TIMEZONE).
    """
    since, until = window(since, until)
    zone = get_settings(request).plant_timezone
    return dashboard(session=session, since=since, until=until, station=station or None, plant_timezone=zone)


@router.get("/drift")
def get_drift(
    session: SessionDep,
    p: Engineer,
    first_day: date | None = None,
    last_day: date | None = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
) -> DriftWatch:
    """Drift watch per station, model version and plant day (default: the last 28 days, today included).

    Review load, false-call rate and escape rate with p-chart limits, the PSI of the day's scores against
    the model's validation scores, and the alerts (days above a limit, PSI >= 0.25), newest first.
    """
    last = last_day or plant.today()
    first = first_day or last - timedelta(days=27)
    return watch(session=session, first_day=first, last_day=last, station=station or None, plant_timezone=plant.zone().key)


def window(since: datetime | None, until: datetime | None, days: int = 14) -> tuple[datetime, datetime]:
    """The dashboard window (since, until), aware; naive input (a date picker) is taken as UTC. Default: the last `days`."""

    def aware(t: datetime) -> datetime:
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    end = aware(until) if until else utcnow()
    return (aware(since) if since else end - timedelta(days=days)), end


@router.get("/metrics/ppm")
def get_ppm(
    session: SessionDep,
    p: Staff,
    first: Month | None = None,
    last: Month | None = None,
    group_by: metrics.GroupBy | None = None,
    version: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    customer: Annotated[str | None, Query(max_length=80)] = None,
) -> metrics.PpmReport:
    """Complaint PPM by month and rolling 12 months (default: the last 12 months), naming the definition version."""
    last = last or metrics.month_of(utcnow())
    first = first or metrics.shift_month(last, -11)
    return metrics.ppm(session=session, first_month=first, last_month=last, group_by=group_by, version=version, customer=customer)


@router.get("/metrics/response")
def get_response(
    request: Request, session: SessionDep, p: Staff, first: Month | None = None, last: Month | None = None
) -> metrics.ResponseStats:
    """Complaint counts and 8D response / closure times against the 48 h / 30 day targets."""
    last = last or metrics.month_of(utcnow())
    first = first or metrics.shift_month(last, -11)
    due = get_settings(request).eight_d_due_hours
    return metrics.response_stats(
        session=session, first_month=first, last_month=last, first_response_h=due["D3"], closure_h=due["D8"]
    )


@router.get("/metrics/ppm-definitions")
def list_definitions(session: SessionDep, p: Staff) -> list[DefinitionRead]:
    """Every version of the PPM definition, newest first."""
    return [DefinitionRead.model_validate(d) for d in metrics.definitions(session)]


@router.post("/metrics/ppm-definitions", status_code=201)
def create_definition(body: DefinitionCreate, session: SessionDep, p: Engineer) -> DefinitionRead:
    """A new definition version (becomes the default; old versions stay selectable)."""
    if not body.note.strip():
        raise InvalidInput(N_("say why the definition changes (note)"))
    d = metrics.new_definition(
        session=session,
        numerator_status=body.numerator_status,
        denominator_window=body.denominator_window,
        attribution=body.attribution,
        note=body.note,
        actor=p.username,
    )
    return DefinitionRead.model_validate(d)
