"""The audit trail page for quality engineers and admins: filters, pages, readable changes, CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import plant
from api.deps import Engineer, SessionDep
from api.i18n import gettext as _
from api.render import render
from api.words import AUDIT_ACTIONS, AUDIT_ENTITIES, audit_value, word
from services.audit.orm import AuditEntry
from services.audit.repository import entries
from services.audit.schemas import changes
from services.core.spreadsheet import safe_cell
from services.core.time import utcnow

router = APIRouter(include_in_schema=False)
PAGE = 100
CSV_LIMIT = 100_000
Text = Annotated[str | None, Query(max_length=100)]


class _Filters:
    """The page's filters as the query string carries them (plant days, both included)."""

    def __init__(self, entity: str | None, entity_id: str | None, actor: str | None, action: str | None, since: str | None, until: str | None) -> None:  # fmt: skip
        self.values = {k: (v or "").strip() for k, v in (("entity", entity), ("entity_id", entity_id), ("actor", actor), ("action", action), ("since", since), ("until", until))}  # fmt: skip
        self.error: str | None = None
        self.first = self.last = None
        try:
            self.first = date.fromisoformat(self.values["since"]) if self.values["since"] else None
            self.last = date.fromisoformat(self.values["until"]) if self.values["until"] else None
        except ValueError:
            self.error = _("Dates are days like 2026-11-25.")
            self.first = self.last = None

    def query(self) -> dict[str, object]:
        """Keyword arguments of the repository's entries()."""
        v = self.values
        return {
            "entity": v["entity"] or None,
            "entity_id": (v["entity_id"].upper() if v["entity"] == "module" else v["entity_id"]) or None,
            "actor": v["actor"] or None,
            "action": v["action"] or None,
            "since": plant.day_start_utc(self.first) if self.first else None,
            "until": plant.day_start_utc(self.last + timedelta(days=1)) if self.last else None,
        }

    def link(self, **extra: object) -> str:
        """This filter's query string (plus e.g. an offset)."""
        return urlencode({**{k: v for k, v in self.values.items() if v}, **{k: v for k, v in extra.items() if v}})


def _readable(e: AuditEntry) -> list[tuple[str, str, str, bool]]:
    return [
        (word(c.field, "audit_field"), audit_value(c.before, c.field), audit_value(c.after, c.field), c.changed)
        for c in changes(e.before, e.after)
        if c.before or c.after  # a field empty before and after says nothing
    ]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    user: Engineer,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    entity: Text = None,
    entity_id: Text = None,
    actor: Text = None,
    action: Text = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """The audit trail, newest first, 100 entries a page; filter by what, who, which and when."""
    f = _Filters(entity, entity_id, actor, action, since, until)
    rows, total = entries(session=session, offset=offset, limit=PAGE, **f.query())  # type: ignore[arg-type]
    return render(
        request,
        "audit.html",
        user=user,
        entries=[(e, _readable(e)) for e in rows],
        total=total,
        offset=offset,
        page=PAGE,
        f=f,
        actions=AUDIT_ACTIONS,
        entities=AUDIT_ENTITIES,
    )


@router.get("/audit.csv")
def audit_csv(
    session: SessionDep,
    user: Engineer,
    entity: Text = None,
    entity_id: Text = None,
    actor: Text = None,
    action: Text = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """The filtered trail as CSV (at most 100,000 entries, newest first), changes as readable text."""
    f = _Filters(entity, entity_id, actor, action, since, until)
    rows, _total = entries(session=session, offset=0, limit=CSV_LIMIT, **f.query())  # type: ignore[arg-type]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([_("when"), _("who"), _("what"), _("on"), _("changes"), _("reason"), "request_id"])
    for e in rows:
        text = "; ".join(f"{name}: {b} → {a}" if b else f"{name}: {a}" for name, b, a, _c in _readable(e))
        w.writerow(
            [safe_cell(x) for x in (plant.plant_time(e.at, "%Y-%m-%d %H:%M:%S"), e.actor, word(e.action, "audit_action"),
             f"{e.entity} {e.entity_id}", text, e.reason or "", e.request_id or "")]
        )  # fmt: skip
    name = f"audit-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(
        "\ufeff" + buf.getvalue(),  # a BOM: spreadsheet programs then read the Chinese text as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
