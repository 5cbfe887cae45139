"""Pages for customer service and quality engineers: complaints, 8D cases, PPM dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from api.deps import SessionDep, get_blobs, get_settings, require
from api.web import charts
from api.web.pages import _render, back_with_error
from services.complaints import eight_d, service, views
from services.core.db import transaction
from services.core.errors import DomainError
from services.core.time import utcnow
from services.metrics import ppm as metrics
from services.security.service import Principal, Role

router = APIRouter(include_in_schema=False)
Staff = Annotated[Principal, Depends(require(Role.CUSTOMER_SERVICE, Role.QUALITY_ENGINEER))]
Engineer = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER))]


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(request: Request, session: SessionDep, user: Staff) -> Response:
    """My open 8Ds, what is overdue, recent complaints, and the new-complaint form."""
    mine = views.list_cases(session, status="open", owner=user.username)
    open_cases = views.list_cases(session, status="open")
    recent, total = views.list_complaints(session, limit=30)
    return _render(request, "complaints.html", user=user, mine=mine, open_cases=open_cases, recent=recent, total=total,
                   today=utcnow().strftime("%Y-%m-%dT%H:%M"), channels=service.CHANNELS, symptoms=service.SYMPTOMS,
                   severities=service.SEVERITIES, error=request.query_params.get("error"), form={})  # fmt: skip


@router.post("/complaints")
async def complaint_submit(request: Request, user: Staff) -> Response:
    """Open a complaint from the form (barcodes typed, pasted or as a CSV file; photos attached)."""
    form = await request.form()
    return await run_in_threadpool(_complaint_submit_sync, request, user, form)


def _complaint_submit_sync(request: Request, user: Principal, form: Any) -> Response:
    text = str(form.get("barcodes") or "")
    upload = form.get("barcode_file")
    files = [f for f in form.getlist("attachments") if isinstance(f, StarletteUpload) and f.filename]
    try:
        if upload is not None and getattr(upload, "filename", ""):
            text += "\n" + upload.file.read(2_000_000).decode("utf-8-sig", errors="replace")
        received = datetime.fromisoformat(str(form.get("received_at") or ""))
        received = received if received.tzinfo else received.replace(tzinfo=UTC)
        with transaction(request.app.state.sessions) as session:
            c, unknown = service.create_complaint(
                session=session, customer=str(form.get("customer") or ""), project=str(form.get("project") or ""),
                site=str(form.get("site") or ""), received_at=received, channel=str(form.get("channel") or ""),
                symptom=str(form.get("symptom") or ""), severity=str(form.get("severity") or ""),
                description=str(form.get("description") or ""), barcodes=service.parse_barcodes(text), actor=user.username,
                due_hours=get_settings(request).eight_d_due_hours,
            )  # fmt: skip
            for f in files:
                service.add_attachment(session=session, blobs=get_blobs(request), number=c.number, filename=f.filename,
                                       data=f.file.read(service.MAX_ATTACHMENT_BYTES + 1), actor=user.username)  # fmt: skip
            number = c.number
    except ValueError as exc:
        return back_with_error("/complaints", f"received date: {exc}")
    except DomainError as exc:
        return back_with_error("/complaints", exc.detail)
    suffix = f"?unknown={quote(','.join(unknown))}" if unknown else ""
    return RedirectResponse(f"/complaints/{number}{suffix}", status_code=303)


@router.get("/complaints/{number}", response_class=HTMLResponse)
def complaint_page(number: str, request: Request, session: SessionDep, user: Staff) -> Response:
    """One complaint: barcodes (unknown ones listed), attachments, judgement, its 8D case."""
    try:
        c = views.get_complaint(session, number[:20])
    except DomainError as exc:
        return _render(request, "complaint.html", status=exc.status, user=user, c=None, error=exc.detail)
    return _render(request, "complaint.html", user=user, c=c, error=request.query_params.get("error"))


@router.post("/complaints/{number}/judgement")
def complaint_judge(
    number: str,
    session: SessionDep,
    user: Engineer,
    justified: Annotated[str, Form(pattern="^(yes|no)$")],
    reason: Annotated[str, Form(max_length=500)],
) -> Response:
    """Justified / not justified, from the complaint page."""
    try:
        service.judge(session=session, number=number[:20], justified=justified == "yes", reason=reason, actor=user.username)
    except DomainError as exc:
        session.rollback()
        return back_with_error(f"/complaints/{quote(number)}", exc.detail)
    return RedirectResponse(f"/complaints/{quote(number)}", status_code=303)


@router.get("/8d/{number}", response_class=HTMLResponse)
def case_page(number: str, request: Request, session: SessionDep, user: Staff) -> Response:
    """Work the disciplines of a case: fields, owner, due date, save / complete; D3 suspects from traceability."""
    try:
        case = views.get_case(session, number[:20])
    except DomainError as exc:
        return _render(request, "case.html", status=exc.status, user=user, case=None, error=exc.detail)
    suspects = views.d3_suspects(session, case.number)
    return _render(request, "case.html", user=user, case=case, suspects=suspects, locations=eight_d.LOCATIONS,
                   error=request.query_params.get("error"), now=utcnow())  # fmt: skip


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.splitlines() if x.strip()]


def form_data(code: str, form: Any) -> dict[str, Any]:
    """A discipline's fields from its form (lists one per line, IS / IS NOT 'dimension | is | is not')."""
    data: dict[str, Any] = {}
    for f in eight_d.BY_CODE[code].fields:
        key = f"f_{f.name}"
        if f.kind == "flag":
            data[f.name] = form.get(key) == "on"
        elif f.kind == "list":
            data[f.name] = _lines(str(form.get(key) or ""))
        elif f.kind == "table":
            rows = []
            for line in _lines(str(form.get(key) or "")):
                parts = [p.strip() for p in line.split("|")] + ["", ""]
                rows.append({"dimension": parts[0], "is": parts[1], "is_not": parts[2]})
            data[f.name] = rows
        elif f.kind == "containment":
            rows = []
            for loc in eight_d.LOCATIONS:
                vals = {k: str(form.get(f"c_{loc}_{k}") or "").strip() for k in ("suspect", "checked", "bad")}
                rows.append({"location": loc, **{k: int(v) if v.isdigit() else v for k, v in vals.items()},
                             "verified": form.get(f"c_{loc}_verified") == "on"})  # fmt: skip
            data[f.name] = rows
        elif key in form:
            data[f.name] = str(form.get(key) or "")
    return data


@router.post("/8d/{number}/disciplines/{code}")
async def discipline_submit(number: str, code: str, request: Request, user: Staff) -> Response:
    """Save (and with action=complete, complete) one discipline from the case page."""
    form = await request.form()
    return await run_in_threadpool(_discipline_sync, request, user, number[:20], code[:2], form)


def _discipline_sync(request: Request, user: Principal, number: str, code: str, form: Any) -> Response:
    back = f"/8d/{quote(number)}#{quote(code)}"
    if code not in eight_d.BY_CODE:
        return back_with_error(f"/8d/{quote(number)}", "unknown discipline")
    try:
        with transaction(request.app.state.sessions) as session:
            due = str(form.get("due_at") or "").strip()
            service.save_discipline(session=session, number=number, code=code, actor=user.username, data=form_data(code, form),
                                    owner=str(form.get("owner") or ""),
                                    due_at=datetime.fromisoformat(due).replace(tzinfo=UTC) if due else None)  # fmt: skip
        if form.get("action") == "complete":
            with transaction(request.app.state.sessions) as session:
                service.complete_discipline(session=session, number=number, code=code, actor=user.username,
                                            actor_is_quality_engineer=user.role in (Role.QUALITY_ENGINEER, Role.ADMIN))  # fmt: skip
    except DomainError as exc:
        return back_with_error(f"/8d/{quote(number)}", f"{code}: {exc.detail}", code)
    except ValueError as exc:
        return back_with_error(f"/8d/{quote(number)}", f"{code}: {exc}", code)
    return RedirectResponse(back, status_code=303)


@router.post("/8d/{number}/reopen")
def case_reopen(
    number: str, request: Request, session: SessionDep, user: Engineer, reason: Annotated[str, Form(max_length=500)]
) -> Response:
    """Reopen on recurrence."""
    try:
        service.reopen_case(session=session, number=number[:20], reason=reason, actor=user.username,
                            due_hours=get_settings(request).eight_d_due_hours)  # fmt: skip
    except DomainError as exc:
        session.rollback()
        return back_with_error(f"/8d/{quote(number)}", exc.detail)
    return RedirectResponse(f"/8d/{quote(number)}", status_code=303)


@router.get("/ppm", response_class=HTMLResponse)
def ppm_page(request: Request, session: SessionDep, user: Staff, first: str | None = None, last: str | None = None,
             group_by: str | None = None, version: int | None = None) -> Response:  # fmt: skip
    """PPM trend with the 8 ppm target, complaints per month, response and closure against their targets."""
    last = last if last and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", last) else metrics.month_of(utcnow())
    first = first if first and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", first) else metrics.shift_month(last, -11)
    group = group_by if group_by in ("customer", "product", "factory") else None
    error = None
    try:
        report = metrics.ppm(session=session, first_month=first, last_month=last, group_by=group, version=version)  # type: ignore[arg-type]
        overall = report if group is None else metrics.ppm(session=session, first_month=first, last_month=last, version=version)
    except DomainError as exc:
        error, report, overall = exc.detail, None, None
    due = get_settings(request).eight_d_due_hours
    stats = metrics.response_stats(
        session=session, first_month=first, last_month=last, first_response_h=due["D3"], closure_h=due["D8"]
    )
    figs: dict[str, Any] = {}
    if overall is not None:
        months = [r.month for r in overall.rows]
        figs["trend"] = charts.line_chart(
            f"Complaint PPM (definition v{overall.definition_version})", months,
            {"monthly": [r.ppm for r in overall.rows], "rolling 12 months": [r.rolling12_ppm for r in overall.rows]},
            lines=[charts.Line(metrics.TARGET_PPM, "target 8 ppm")], cls="ppm",
        )  # fmt: skip
    figs["counts"] = charts.bar_chart("Complaints received per month", [(m, float(n)) for m, n in stats.complaints_by_month.items()],
                                      cls="counts")  # fmt: skip
    return _render(request, "ppm.html", user=user, report=report, overall=overall, stats=stats, figs=figs, first=first, last=last,
                   group_by=group or "", error=error)  # fmt: skip
