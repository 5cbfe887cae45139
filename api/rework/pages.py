"""Rework pages: the station an operator works at (scan, see, disposition by key) and the holds list."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api import plant
from api.csrf import csrf_token
from api.deps import Engineer, ReworkPerson, SessionDep, get_settings, station_scope
from api.i18n import N_, current_locale
from api.i18n import gettext as _
from api.lists import csv_download
from api.render import PageBack, back_on_error, render, templates
from api.words import error_text, word
from services.contracts.result import BARCODE_PATTERN, normalise_barcode
from services.core.errors import DomainError, NotFound
from services.rework import service as rework
from services.rework import views
from services.rework.schemas import DispositionKind, RepairCode
from services.security.service import Principal

router = APIRouter(include_in_schema=False)
STATION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
# One key per disposition at the station (U undoes the last one).
KEYS: dict[str, tuple[DispositionKind, RepairCode | None]] = {
    "S": (DispositionKind.REPAIRED, RepairCode.RESOLDER),
    "C": (DispositionKind.REPAIRED, RepairCode.REPLACE_CELL),
    "L": (DispositionKind.REPAIRED, RepairCode.CLEAN),
    "F": (DispositionKind.FALSE_CALL, None),
    "N": (DispositionKind.NOT_REPAIRABLE, None),
    "R": (DispositionKind.FALSE_CALL, None),  # the rest of the current string, after a visual check (confirmed twice)
}


STATION_COOKIE = "eltrace_station"  # the terminal keeps its station: set once by opening /rework?station=RW-01


def _station(value: str | None) -> str:
    return value if value and STATION_RE.match(value) else "REWORK"


@router.get("/rework", response_class=HTMLResponse)
def rework_page(
    request: Request,
    session: SessionDep,
    user: ReworkPerson,
    barcode: Annotated[str | None, Query(max_length=200)] = None,
    station: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The rework station: scan (typed + Enter), see the NG cells on the image, disposition them by key."""
    settings = get_settings(request)
    named = station if station and STATION_RE.match(station) else None
    kept = request.cookies.get(STATION_COOKIE)
    terminal = named or (kept if kept and STATION_RE.match(kept) else None)
    ctx: dict[str, object] = {
        "user": user,
        "station": _station(terminal),
        "no_station": terminal is None,
        "keys": KEYS,
        "view": None,
        "scan_error": None,
    }
    status = 200
    if barcode is not None:
        code = normalise_barcode(barcode)
        ctx["barcode"] = code
        if not code:
            ctx["scan_error"], status = _("Nothing was scanned. Scan the module label."), 400
        elif not re.fullmatch(BARCODE_PATTERN, code):
            msg = _("“%(code)s” is not a module barcode. Scan the module label again.")
            ctx["scan_error"], status = msg % {"code": code[:64]}, 400
        else:
            try:
                scope = station_scope(session, user, terminal)
                ctx["view"] = views.station_view(session=session, barcode=code, loop_limit=settings.rework_loop_limit, line=scope)
            except NotFound:  # the scan's answer, shown in the station's state banner; other errors are errors
                ctx["scan_error"], status = _not_here(session, code, scope, terminal), 404
    ctx["error"] = request.query_params.get("error")
    response = render(request, "rework.html", status=status, **ctx)
    if named and named != kept:
        response.set_cookie(STATION_COOKIE, named, max_age=400 * 24 * 3600, samesite="lax", path="/")
    return response


class KeyPress(BaseModel):
    """One key at the station, as its form (or its script) sends it."""

    barcode: str = Field(max_length=64)
    station: str = Field(max_length=40)
    loop_id: int = Field(ge=1, le=2**31 - 1)
    defect_id: int = Field(ge=1, le=2**31 - 1)
    key: str = Field(max_length=1)
    new_cell_lot: str | None = Field(default=None, max_length=60)


@router.post("/rework/dispose")
def rework_dispose(
    request: Request,
    session: SessionDep,
    user: ReworkPerson,
    press: Annotated[KeyPress, Form()],
) -> Response:
    """One key = one disposition; back to the station view (post / redirect / get)."""
    station = _station(press.station)
    back = f"/rework?{urlencode({'barcode': press.barcode, 'station': station})}"
    if press.key != "U" and press.key not in KEYS:
        raise PageBack(back, _("unknown key %(key)s") % {"key": press.key})
    with back_on_error(back):  # nothing of a refused disposition stays
        _apply_key(session, user, press, station, get_settings(request).rework_loop_limit)
    return RedirectResponse(back, status_code=303)


def _not_here(session: Session, code: str, scope: str | None, station: str | None) -> str:
    """Why a scan shows nothing: no EL result at all, or a module of another line than this station's."""
    if scope and views.module_exists(session=session, barcode=code):
        msg = _("%(code)s is not a module of line %(line)s, the line station %(station)s works. Nothing was changed.")
        return msg % {"code": code, "line": scope, "station": station or "-"}
    return _("Unknown barcode %(code)s: no EL result for this module. Nothing was changed.") % {"code": code}


def _apply_key(session: Session, user: Principal, press: KeyPress, station: str, loop_limit: int) -> int:
    """Record what one key means; returns how many cells it dispositioned (R: every open one of the string)."""
    key, loop_id = press.key, press.loop_id
    scope = station_scope(session, user, station)
    if key == "U":
        rework.undo_last(
            session=session,
            loop_id=loop_id,
            actor=user.username,
            station=station,
            line=scope,
            may_undo_others=user.is_quality_engineer,
        )
        return 0
    disposition, code = KEYS[key]
    if key == "R":
        view = views.station_view(session=session, barcode=normalise_barcode(press.barcode), loop_limit=loop_limit, line=scope)
        targets = [d.defect_id for d in view.defects if d.loop_id == loop_id and d.disposition is None]
    else:
        targets = [press.defect_id]
    lot = (press.new_cell_lot or "").strip() or None if code else None
    for target in targets:
        rework.dispose(
            session=session,
            loop_id=loop_id,
            item=rework.DispositionInput(target, disposition, code, lot),
            actor=user.username,
            station=station,
            line=scope,
        )
    return len(targets)


@router.post("/rework/key")
def rework_key(
    request: Request,
    session: SessionDep,
    user: ReworkPerson,
    press: Annotated[KeyPress, Form()],
) -> Response:
    """One key from the station's script: recorded or refused, answered with the station's new state (no reload)."""
    station, key = _station(press.station), press.key
    settings = get_settings(request)
    code = normalise_barcode(press.barcode)
    ok, status = True, 200
    if key != "U" and key not in KEYS:
        ok, status, detail = False, 400, _("unknown key %(key)s") % {"key": key}
    else:
        try:
            n = _apply_key(session, user, press, station, settings.rework_loop_limit)
            detail = _("%(n)s cells recorded as false calls.") % {"n": n} if key == "R" else _(_KEY_DONE[key])
        except DomainError as exc:
            session.rollback()  # the route owns the transaction: nothing of a refused key stays
            ok, status, detail = False, exc.status, _("Not recorded: %(reason)s") % {"reason": error_text(exc)}
    session.flush()
    session.expire_all()  # the answer shows the station as the database now has it, not the key's loaded objects
    try:
        scope = station_scope(session, user, station)
        view = views.station_view(session=session, barcode=code, loop_limit=settings.rework_loop_limit, line=scope)
    except NotFound:
        view = None
    html = templates.get_template("rework_station.html").render(
        request=request, view=view, station=station, keys=KEYS, csrf=csrf_token(request), locale=current_locale()
    )
    return JSONResponse({"ok": ok, "detail": detail, "html": html, "state": view.state if view else None}, status_code=status)


_KEY_DONE = {
    "S": N_("Recorded: re-soldered."),
    "C": N_("Recorded: cell replaced."),
    "L": N_("Recorded: cleaned."),
    "F": N_("Recorded: false call."),
    "N": N_("Recorded: not repairable."),
    "U": N_("Taken back: the last disposition."),
}


@router.get("/holds", response_class=HTMLResponse)
def holds_page(request: Request, session: SessionDep, user: Engineer) -> Response:
    """Held modules waiting for a quality engineer's decision (one at a time, or many with one decision)."""
    return render(
        request,
        "holds.html",
        user=user,
        holds=views.holds(session, open_only=True),
        error=request.query_params.get("error"),
        done=request.query_params.get("done"),
    )


@router.get("/holds.csv")
def holds_csv(
    session: SessionDep, user: Engineer, decided: Annotated[bool, Query(description="also the decided ones")] = False
) -> Response:
    """The open holds as CSV (with decided=true: the last 5,000 holds, decisions included), codes as words."""
    rows = views.holds(session, open_only=not decided, limit=5000)
    return csv_download(
        "holds",
        [_("module"), _("placed"), _("source"), _("why"), _("by"), _("decision"), _("decision reason"), _("deviation no."),
         _("decided by"), _("decided")],
        (
            (h.barcode, plant.plant_time(h.placed_at), word(h.source, "hold_source"), h.reason, h.placed_by,
             word(h.decision, "hold_outcome") if h.decision else "", h.decision_reason, h.deviation_no, h.decided_by,
             plant.plant_time(h.decided_at))
            for h in rows
        ),
    )  # fmt: skip


def _decided(n: int, decision: str) -> str:
    text = _("%(n)s hold(s) decided: %(decision)s.") % {"n": n, "decision": word(decision, "hold_outcome")}
    return f"/holds?{urlencode({'done': text})}"


@router.post("/holds/{hold_id}/decision")
def hold_decision_page(
    hold_id: int,
    session: SessionDep,
    user: Engineer,
    decision: Annotated[str, Form(max_length=12)],
    reason: Annotated[str, Form(max_length=500)],
    deviation_no: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """Scrap / downgrade / use as is / release, from the holds page."""
    with back_on_error("/holds", f"hold-{hold_id}"):
        rework.decide_hold(
            session=session, hold_id=hold_id, decision=decision, reason=reason, actor=user.username, deviation_no=deviation_no
        )
    return RedirectResponse(_decided(1, decision), status_code=303)


@router.post("/holds/decision")
def holds_bulk_decision(
    session: SessionDep,
    user: Engineer,
    hold_ids: Annotated[list[int], Form(max_length=500)],
    decision: Annotated[str, Form(max_length=12)],
    reason: Annotated[str, Form(max_length=500)],
    deviation_no: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """One decision for every ticked hold: all of them are recorded, or none (the first refusal says why)."""
    with back_on_error("/holds"):
        for hold_id in hold_ids:
            rework.decide_hold(
                session=session, hold_id=hold_id, decision=decision, reason=reason, actor=user.username, deviation_no=deviation_no
            )
    return RedirectResponse(_decided(len(hold_ids), decision), status_code=303)
