"""What the list pages share: filters from the query string, plant-day ranges, paging links, CSV downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query
from fastapi.responses import Response

from api import plant
from api.i18n import gettext as _
from services.core.spreadsheet import safe_cell
from services.core.time import utcnow

CSV_LIMIT = 100_000  # rows of one download; a longer list is narrowed by its filter
Day = Annotated[str | None, Query(max_length=10)]  # a plant day as the date field sends it: 2026-11-25
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


class ListFilters:
    """A list's filters as the query string carries them; `since` / `until` are plant days, both included."""

    def __init__(self, **values: str | None) -> None:
        self.values = {k: (v or "").strip() for k, v in values.items()}
        self.error: str | None = None
        self.default_window = False  # set by a list that chose the days itself (none were given)
        self.first: date | None = None
        self.last: date | None = None
        try:
            self.first = date.fromisoformat(self.values["since"]) if self.values.get("since") else None
            self.last = date.fromisoformat(self.values["until"]) if self.values.get("until") else None
        except ValueError:
            self.error = _("Dates are days like 2026-11-25.")
            self.first = self.last = None
        if self.first and self.last and self.first > self.last:
            self.error = _("The first day is after the last one.")
            self.first = self.last = None

    def get(self, key: str) -> str | None:
        """One filter's value, None when empty."""
        return self.values.get(key) or None

    def window(self) -> tuple[datetime | None, datetime | None]:
        """[since, until) in UTC for the chosen plant days (None where open)."""
        since = plant.day_start_utc(self.first) if self.first else None
        until = plant.day_start_utc(self.last + timedelta(days=1)) if self.last else None
        return since, until

    def link(self, **extra: object) -> str:
        """This filter's query string, plus e.g. an offset."""
        return urlencode({**{k: v for k, v in self.values.items() if v}, **{k: v for k, v in extra.items() if v}})


def csv_download(stem: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """A CSV attachment a spreadsheet opens as UTF-8 (a BOM), every cell safe from formula injection."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for row in rows:
        w.writerow([safe_cell("" if x is None else str(x)) for x in row])
    name = f"{stem}-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(
        "\ufeff" + buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
