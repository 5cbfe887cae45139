"""The models page for quality engineers: what each station runs, live vs shadow on its images, promote / roll back."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import Engineer, SessionDep
from api.i18n import gettext as _
from api.lists import Day, ListFilters
from api.render import back_on_error, render
from api.words import word
from services.devices import service as devices
from services.labels.compare import compare
from services.registry import service
from services.registry.schemas import Role

router = APIRouter(include_in_schema=False)
PAGE = "/models"
Reason = Annotated[str, Form(min_length=3, max_length=500)]


def _back(station: str) -> str:
    return f"{PAGE}?{urlencode({'station': station})}"


def _done(station: str, text: str) -> Response:
    return RedirectResponse(f"{PAGE}?{urlencode({'station': station, 'done': text})}#station-{station}", status_code=303)


@router.get(PAGE, response_class=HTMLResponse)
def models_page(
    request: Request,
    session: SessionDep,
    user: Engineer,
    station: Annotated[str | None, Query(max_length=40)] = None,
    since: Day = None,
    until: Day = None,
) -> Response:
    """Each station's live and shadow model with their history; the comparison of the chosen station; every version."""
    in_force = service.in_force(session=session)
    codes = sorted({s.code for s in devices.stations(session=session)} | {a.station for a in in_force})
    now = {(a.station, a.role): a for a in in_force}
    histories = {code: service.station_history(session=session, station=code) for code in codes}
    lives = {code: [a for a in h if a.role is Role.LIVE] for code, h in histories.items()}
    rows = [
        {
            "code": code,
            "live": now.get((code, Role.LIVE)),
            "shadow": now.get((code, Role.SHADOW)),
            # a rollback returns to the last live version that differs from the current one
            "may_roll_back": bool(lives[code])
            and lives[code][0].until is None
            and any(a.version != lives[code][0].version or a.name != lives[code][0].name for a in lives[code][1:]),
            "shadowed": any(a.role is Role.SHADOW for a in histories[code]),
        }
        for code in codes
    ]
    filters = ListFilters(since=since, until=until)
    chosen = station if station in codes else next((r["code"] for r in rows if r["shadowed"]), None)
    report = None
    if chosen and not filters.error:
        start, end = filters.window()
        report = compare(session=session, station=chosen, since=start, until=end)
    return render(
        request,
        "models.html",
        user=user,
        rows=rows,
        versions=service.versions(session=session),
        chosen=chosen,
        history=histories.get(chosen or "", [])[:12],
        report=report,
        filters=filters,
        error=request.query_params.get("error") or filters.error,
        done=request.query_params.get("done"),
    )


@router.post(PAGE + "/{station}/assign")
def assign_page(
    station: str,
    session: SessionDep,
    user: Engineer,
    version: Annotated[str, Form(min_length=1, max_length=160)],
    role: Annotated[Role, Form()],
    reason: Reason,
) -> Response:
    """Put a registered version on a station, live (promote) or in shadow; the edge switches within one poll."""
    name, _sep, ver = version.partition(" ")
    with back_on_error(_back(station), f"station-{station}"):
        a = service.assign(
            session=session, station=station, name=name, version=ver, role=role, actor=user.username, reason=reason
        )
    text = _("%(version)s is the %(role)s model at %(station)s from now on.") % {
        "version": a.version,
        "role": word(a.role, "model_role"),
        "station": station,
    }
    return _done(station, text)


@router.post(PAGE + "/{station}/rollback")
def rollback_page(station: str, session: SessionDep, user: Engineer, reason: Reason) -> Response:
    """Return the station to the version it ran live before."""
    with back_on_error(_back(station), f"station-{station}"):
        a = service.rollback(session=session, station=station, actor=user.username, reason=reason)
    return _done(station, _("%(station)s is back on %(version)s.") % {"station": station, "version": a.version})


@router.post(PAGE + "/{station}/shadow/stop")
def stop_shadow_page(station: str, session: SessionDep, user: Engineer, reason: Reason) -> Response:
    """End the station's shadow model."""
    with back_on_error(_back(station), f"station-{station}"):
        a = service.stop_shadow(session=session, station=station, actor=user.username, reason=reason)
    return _done(station, _("%(version)s no longer runs in shadow at %(station)s.") % {"station": station, "version": a.version})
