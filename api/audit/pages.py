"""The audit trail page for quality engineers and admins: filters, pages, readable changes, CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import plant
from api.deps import Engineer, SessionDep
from api.i18n import gettext as _
from api.lists import CSV_LIMIT, Day, ListFilters, Offset, csv_download
from api.render import render
from api.words import AUDIT_ACTIONS, AUDIT_ENTITIES, audit_value, word
from services.audit.orm import AuditEntry
from services.audit.repository import entries
from services.audit.schemas import changes

router = APIRouter(include_in_schema=False)
PAGE = 100
Text = Annotated[str | None, Query(max_length=100)]


def _filters(
    entity: Text = None, entity_id: Text = None, actor: Text = None, action: Text = None, since: Day = None, until: Day = None
) -> ListFilters:
    """The trail's filter from the query string (the page and its CSV take the same one)."""
    return ListFilters(entity=entity, entity_id=entity_id, actor=actor, action=action, since=since, until=until)


Filters = Annotated[ListFilters, Depends(_filters)]


def _query(f: ListFilters) -> dict[str, object]:
    """The filter as keyword arguments of the repository's entries()."""
    entity_id = f.get("entity_id")
    since, until = f.window()
    return {
        "entity": f.get("entity"),
        "entity_id": entity_id.upper() if entity_id and f.get("entity") == "module" else entity_id,
        "actor": f.get("actor"),
        "action": f.get("action"),
        "since": since,
        "until": until,
    }


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
    f: Filters,
    offset: Offset = 0,
) -> Response:
    """The audit trail, newest first, 100 entries a page; filter by what, who, which and when."""
    rows, total = entries(session=session, offset=offset, limit=PAGE, **_query(f))  # type: ignore[arg-type]
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
    f: Filters,
) -> Response:
    """The filtered trail as CSV (at most 100,000 entries, newest first), changes as readable text."""
    rows, _total = entries(session=session, offset=0, limit=CSV_LIMIT, **_query(f))  # type: ignore[arg-type]

    def changes_text(e: AuditEntry) -> str:
        return "; ".join(f"{name}: {b} → {a}" if b else f"{name}: {a}" for name, b, a, _c in _readable(e))

    return csv_download(
        "audit",
        [_("when"), _("who"), _("what"), _("on"), _("changes"), _("reason"), "request_id"],
        (
            (plant.plant_time(e.at, "%Y-%m-%d %H:%M:%S"), e.actor, word(e.action, "audit_action"),
             f"{e.entity} {e.entity_id}", changes_text(e), e.reason, e.request_id)
            for e in rows
        ),
    )  # fmt: skip
