"""The EL review station: a queue of REVIEW strings, one doubtful cell at a time, one key per decision."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.csrf import csrf_token
from api.deps import ReworkPerson, SessionDep, get_settings, station_scope
from api.i18n import N_, current_locale
from api.i18n import gettext as _
from api.render import render, templates
from api.words import DEFECT_CLASSES, error_text, word
from services.core.errors import DomainError, InvalidInput, NotFound
from services.review import service
from services.review.schemas import ReviewDecision, ReviewQueue, ReviewString
from services.security.service import Principal

router = APIRouter(include_in_schema=False)
STATION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
STATION_COOKIE = "eltrace_review_station"  # the review terminal keeps its EL station, as the rework one does
KEYS = ("D", "O", "U", "N")  # defect, OK, undo, next (Space: complete the image, show the next)


def _state(
    request: Request, session: Session, user: Principal, station: str | None, result_id: str | None
) -> tuple[ReviewQueue, ReviewString | None]:
    """The station's queue and the image to show: the one asked for, else the oldest waiting."""
    scope = station_scope(session, user, station)
    overdue_s = get_settings(request).review_overdue_minutes * 60
    q = service.queue(session=session, station=station, overdue_after_s=overdue_s, line=scope)
    if result_id is None and q.items:
        result_id = q.items[0].result_id
    image = None
    if result_id is not None:
        try:
            image = service.review_string(session=session, result_id=result_id, line=scope)
        except NotFound:
            image = None
    return q, image


def _fragment(request: Request, queue: ReviewQueue, image: ReviewString | None, station: str | None) -> str:
    return templates.get_template("review_station.html").render(
        request=request,
        queue=queue,
        image=image,
        station=station,
        classes=DEFECT_CLASSES,
        csrf=csrf_token(request),
        locale=current_locale(),
        waiting=_waiting,
    )


def _waiting(seconds: int | None) -> str:
    """A queue age the way people say it: 40 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return _("%(n)s s") % {"n": seconds}
    if seconds < 3600:
        return _("%(n)s min") % {"n": seconds // 60}
    if seconds < 86400:
        return _("%(h)s h %(m)s min") % {"h": seconds // 3600, "m": f"{seconds % 3600 // 60:02d}"}
    return _("%(d)s d %(h)s h") % {"d": seconds // 86400, "h": seconds % 86400 // 3600}


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    session: SessionDep,
    user: ReworkPerson,
    station: Annotated[str | None, Query(max_length=40)] = None,
    result: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The EL review station: the oldest REVIEW string large, the doubtful cell zoomed, D / O / Space by key."""
    named = station if station and STATION_RE.match(station) else None
    kept = request.cookies.get(STATION_COOKIE)
    terminal = named or (kept if kept and STATION_RE.match(kept) else None)
    queue, image = _state(request, session, user, terminal, result)
    response = render(
        request,
        "review.html",
        user=user,
        station=terminal,
        fragment=_fragment(request, queue, image, terminal),
        refresh_s=get_settings(request).review_refresh_seconds,
    )
    if named and named != kept:
        response.set_cookie(STATION_COOKIE, named, max_age=400 * 24 * 3600, samesite="lax", path="/")
    return response


class ReviewKey(BaseModel):
    """One key at the review station, as its script sends it."""

    result_id: str = Field(max_length=64)
    station: str = Field(default="", max_length=40)
    key: str = Field(max_length=1)
    defect_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    cls: str | None = Field(default=None, max_length=40)


_DONE = {
    "D": N_("Recorded: cell %(cell)s is a defect (%(cls)s)."),
    "O": N_("Recorded: cell %(cell)s is OK."),
    "U": N_("Taken back: cell %(cell)s."),
}


@router.post("/review/key")
def review_key(request: Request, session: SessionDep, user: ReworkPerson, press: Annotated[ReviewKey, Form()]) -> Response:
    """One key from the review station's script: recorded or refused, answered with the station's new state."""
    station = press.station if STATION_RE.match(press.station or "") else None
    settings = get_settings(request)
    ok, status, show = True, 200, press.result_id
    try:
        scope = station_scope(session, user, station)
        where = station or "-"
        if press.key in ("D", "O"):
            if press.defect_id is None:
                raise InvalidInput(N_("no cell chosen"))
            decision = ReviewDecision.DEFECT if press.key == "D" else ReviewDecision.OK
            item = service.CellInput(press.defect_id, decision, press.cls if press.key == "D" else None)
            r = service.decide(
                session=session, result_id=press.result_id, item=item, actor=user.username, station=where, line=scope
            )
            detail = _(_DONE[press.key]) % {"cell": _cell_of(session, press.result_id, r.defect_id), "cls": word(r.cls, "defect")}
        elif press.key == "U":
            r = service.undo_last(session=session, result_id=press.result_id, line=scope)
            detail = _(_DONE["U"]) % {"cell": _cell_of(session, press.result_id, r.defect_id)}
        elif press.key == "N":
            done = service.complete(
                session=session,
                result_id=press.result_id,
                actor=user.username,
                station=where,
                loop_limit=settings.rework_loop_limit,
                plant_timezone=settings.plant_timezone,
                line=scope,
            )
            text = (
                _("%(code)s string %(s)s: NG, %(n)s defect(s) go to rework.")
                if done.defects
                else _("%(code)s string %(s)s: OK, every doubtful cell cleared.")
            )
            detail, show = text % {"code": done.barcode, "s": done.string_position, "n": done.defects}, None
        else:
            ok, status, detail = False, 400, _("unknown key %(key)s") % {"key": press.key[:1]}
    except DomainError as exc:
        session.rollback()  # the route owns the transaction: nothing of a refused key stays
        ok, status, detail = False, exc.status, _("Not recorded: %(reason)s") % {"reason": error_text(exc)}
    session.flush()
    session.expire_all()
    queue, image = _state(request, session, user, station, show)
    if image is not None and show is not None and image.result_id != show:
        image = None
    html = _fragment(request, queue, image, station)
    return JSONResponse({"ok": ok, "detail": detail, "html": html, "waiting": queue.total}, status_code=status)


def _cell_of(session: Session, result_id: str, defect_id: int) -> str:
    image = service.review_string(session=session, result_id=result_id)
    cell = next((c for c in image.cells if c.defect_id == defect_id), None)
    return f"{cell.row}-{cell.col}" if cell else "?"
