"""The results list (the landing page): string EL results by verdict, station and plant days; paged; CSV."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import plant
from api.deps import AnyPerson, SessionDep, line_scope
from api.i18n import gettext as _
from api.lists import CSV_LIMIT, Day, ListFilters, Offset, csv_download
from api.render import render
from api.words import word
from services.contracts import Verdict
from services.inspection import service as inspections
from services.security.service import Principal

router = APIRouter(include_in_schema=False)
PAGE = 50
DEFAULT_DAYS = 7  # without chosen days the list shows the last week (a year of results is millions of rows)
Station = Annotated[str | None, Query(max_length=40)]


def _filters(
    verdict: Annotated[str | None, Query(max_length=10)] = None, station: Station = None, since: Day = None, until: Day = None
) -> ListFilters:
    """The list's filter from the query string (the page and its CSV take the same one)."""
    week = not since and not until
    if week:
        since = (plant.today() - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    f = ListFilters(verdict=verdict, station=station, since=since, until=until)
    f.default_window = week
    if f.get("verdict") and f.get("verdict") not in set(Verdict):
        f.error, f.values["verdict"] = _("Choose a verdict from the list."), ""
    return f


Filters = Annotated[ListFilters, Depends(_filters)]


def _page(session: SessionDep, user: Principal, f: ListFilters, offset: int, limit: int):  # type: ignore[no-untyped-def]
    since, until = f.window()
    return inspections.list_inspections(
        session=session,
        offset=offset,
        limit=limit,
        verdict=f.get("verdict"),
        station=(f.get("station") or "").upper() or None,
        since=since,
        until=until,
        line=line_scope(user),
    )


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    session: SessionDep,
    user: AnyPerson,
    f: Filters,
    offset: Offset = 0,
) -> Response:
    """String EL results, newest first, 50 a page (an operator's line only); the last week unless days are chosen."""
    page = _page(session, user, f, offset, PAGE)
    latest = None  # the last week was quiet: say when the newest result is from, with a link to its week
    if not page.total and f.default_window:
        at = inspections.latest_capture(session=session, line=line_scope(user))
        if at is not None:
            day = date.fromisoformat(plant.plant_time(at, "%Y-%m-%d"))
            latest = (
                day.isoformat(),
                ListFilters(since=(day - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), until=day.isoformat()),
            )
    return render(
        request, "home.html", user=user, inspections=page.items, total=page.total, offset=offset, page=PAGE, f=f,
        verdicts=list(Verdict), latest=latest,
    )  # fmt: skip


@router.get("/results.csv")
def results_csv(
    session: SessionDep,
    user: AnyPerson,
    f: Filters,
) -> Response:
    """The filtered results as CSV (at most 100,000 rows, newest first)."""
    page = _page(session, user, f, 0, CSV_LIMIT)
    return csv_download(
        "results",
        [_("captured"), _("barcode"), _("string"), _("station"), _("shift"), _("verdict"), _("NG cells"),
         _("review cells"), _("model"), _("error"), "result_id"],
        (
            (plant.plant_time(i.captured_at, "%Y-%m-%d %H:%M:%S"), i.barcode, i.string_position, i.station, i.shift,
             word(i.verdict, "verdict"), i.ng_cells, i.review_cells, i.model_version, i.error, i.result_id)
            for i in page.items
        ),
    )  # fmt: skip
