"""Pages for customer service and quality engineers: complaints and their 8D cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUpload

from api import plant
from api.deps import Engineer, SessionDep, Staff, get_blobs, get_settings, in_transaction
from api.i18n import gettext as _
from api.limits import takes_upload
from api.lists import CSV_LIMIT, Day, ListFilters, Offset, csv_download
from api.render import PageBack, back_on_error, render
from api.words import error_text, word
from services.complaints import eight_d, service, views
from services.complaints.schemas import CaseStatus, DisciplineStatus
from services.core.errors import DomainError
from services.core.time import utcnow
from services.security.service import Principal, case_owners

router = APIRouter(include_in_schema=False)


Text = Annotated[str | None, Query(max_length=80)]
PAGE = 30


def _complaint_filters(
    customer: Text = None,
    symptom: Text = None,
    justified: Annotated[str | None, Query(max_length=4)] = None,
    since: Day = None,
    until: Day = None,
) -> ListFilters:
    """The complaints' filter from the query string (the page and its CSV take the same one)."""
    f = ListFilters(customer=customer, symptom=symptom, justified=justified, since=since, until=until)
    if f.get("symptom") and f.get("symptom") not in service.SYMPTOMS:
        f.error, f.values["symptom"] = _("Choose a symptom from the list."), ""
    if f.get("justified") not in (None, "yes", "no", "open"):
        f.values["justified"] = ""
    return f


ComplaintFilters = Annotated[ListFilters, Depends(_complaint_filters)]


def _complaints(session: Session, f: ListFilters, offset: int, limit: int) -> tuple[list[Any], int]:
    since, until = f.window()
    return views.list_complaints(
        session, offset=offset, limit=limit, customer=f.get("customer"), symptom=f.get("symptom"),
        justified=f.get("justified"), since=since, until=until,
    )  # fmt: skip


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(
    request: Request,
    session: SessionDep,
    user: Staff,
    f: ComplaintFilters,
    offset: Offset = 0,
) -> Response:
    """My open 8Ds, what is overdue, the complaints (filtered, paged), and the new-complaint form."""
    mine = views.list_cases(session, status=CaseStatus.OPEN, owner=user.username)
    open_cases = views.list_cases(session, status=CaseStatus.OPEN)
    recent, total = _complaints(session, f, offset, PAGE)
    return render(
        request,
        "complaints.html",
        user=user,
        mine=mine,
        open_cases=open_cases,
        recent=recent,
        total=total,
        offset=offset,
        page=PAGE,
        f=f,
        today=plant.to_input(utcnow()),
        channels=service.CHANNELS,
        symptoms=service.SYMPTOMS,
        severities=service.SEVERITIES,
        error=request.query_params.get("error"),
        form={},
    )


@router.get("/complaints.csv")
def complaints_csv(
    session: SessionDep,
    user: Staff,
    f: ComplaintFilters,
) -> Response:
    """The filtered complaints as CSV (newest first), codes as words."""
    rows, _total = _complaints(session, f, 0, CSV_LIMIT)
    yes_no = {True: _("yes"), False: _("no"), None: _("open")}
    return csv_download(
        "complaints",
        [_("number"), _("customer"), _("project"), _("site"), _("received"), _("channel"), _("symptom"), _("severity"),
         _("modules"), _("justified"), "8D", _("description")],
        (
            (c.number, c.customer, c.project, c.site, plant.plant_time(c.received_at), word(c.channel, "channel"),
             word(c.symptom, "symptom"), word(c.severity, "severity"), " ".join(c.barcodes), yes_no[c.justified], c.case,
             c.description)
            for c in rows
        ),
    )  # fmt: skip


@router.post("/complaints")
@takes_upload("max_upload_bytes")
async def complaint_submit(request: Request, user: Staff) -> Response:
    """Open a complaint from the form (barcodes typed, pasted or as a CSV file; photos attached)."""
    form = await request.form()
    text = str(form.get("barcodes") or "")
    upload = form.get("barcode_file")
    if isinstance(upload, StarletteUpload) and upload.filename:
        text += "\n" + (await upload.read(2_000_000)).decode("utf-8-sig", errors="replace")
    try:
        received = plant.from_input(str(form.get("received_at") or ""))  # typed in plant time
    except ValueError as exc:
        raise PageBack("/complaints", _("Received: give a date and time like 2026-11-25 14:30.")) from exc
    files = [f for f in form.getlist("attachments") if isinstance(f, StarletteUpload) and f.filename]
    with back_on_error("/complaints"):
        number, unknown = await in_transaction(request, _create_complaint, request, user, form, text, received, files)
    suffix = f"?unknown={quote(','.join(unknown))}" if unknown else ""
    return RedirectResponse(f"/complaints/{number}{suffix}", status_code=303)


def _create_complaint(
    session: Session, request: Request, user: Principal, form: Any, text: str, received: datetime, files: list[StarletteUpload]
) -> tuple[str, list[str]]:
    """The complaint and its photos, all or nothing."""
    c, unknown = service.create_complaint(
        session=session,
        customer=str(form.get("customer") or ""),
        project=str(form.get("project") or ""),
        site=str(form.get("site") or ""),
        received_at=received,
        channel=str(form.get("channel") or ""),
        symptom=str(form.get("symptom") or ""),
        severity=str(form.get("severity") or ""),
        description=str(form.get("description") or ""),
        barcodes=service.parse_barcodes(text),
        actor=user.username,
        due_hours=get_settings(request).eight_d_due_hours,
    )
    for f in files:
        service.add_attachment(
            session=session,
            blobs=get_blobs(request),
            number=c.number,
            filename=f.filename or "attachment",
            data=f.file.read(service.MAX_ATTACHMENT_BYTES + 1),
            actor=user.username,
        )
    return c.number, unknown


@router.get("/complaints/{number}", response_class=HTMLResponse)
def complaint_page(number: str, request: Request, session: SessionDep, user: Staff) -> Response:
    """One complaint: barcodes (unknown ones listed), attachments, judgement, its 8D case."""
    c = views.get_complaint(session, number[:20])
    return render(request, "complaint.html", user=user, c=c, error=request.query_params.get("error"))


@router.post("/complaints/{number}/judgement")
def complaint_judge(
    number: str,
    session: SessionDep,
    user: Engineer,
    justified: Annotated[str, Form(pattern="^(yes|no)$")],
    reason: Annotated[str, Form(max_length=500)],
) -> Response:
    """Justified / not justified, from the complaint page."""
    with back_on_error(f"/complaints/{quote(number)}"):
        service.judge(session=session, number=number[:20], justified=justified == "yes", reason=reason, actor=user.username)
    return RedirectResponse(f"/complaints/{quote(number)}", status_code=303)


@router.get("/8d/{number}", response_class=HTMLResponse)
def case_page(number: str, request: Request, session: SessionDep, user: Staff) -> Response:
    """Work the disciplines of a case: fields, owner, due date, save / complete; D3 suspects from traceability."""
    case = views.get_case(session, number[:20])
    suspects = views.d3_suspects(session, case.number)
    q = request.query_params
    step = q.get("step") if q.get("step") in eight_d.BY_CODE else None
    if step is None:  # the first discipline still open, else the last one
        step = next((d.code for d in case.disciplines if d.status != DisciplineStatus.COMPLETED), eight_d.CODES[-1])
    return render(
        request,
        "case.html",
        user=user,
        case=case,
        suspects=suspects,
        locations=eight_d.LOCATIONS,
        step=step,
        error=q.get("error"),
        refused=q.get("refused"),
        saved=bool(q.get("saved")),
        completed=q.get("completed") if q.get("completed") in eight_d.BY_CODE else None,
        owners=case_owners(session=session),
        now=utcnow(),
    )


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
                rows.append(
                    {
                        "location": loc,
                        **{k: int(v) if v.isdigit() else v for k, v in vals.items()},
                        "verified": form.get(f"c_{loc}_verified") == "on",
                    }
                )
            data[f.name] = rows
        elif key in form:
            data[f.name] = str(form.get(key) or "")
    return data


@router.post("/8d/{number}/disciplines/{code}")
async def discipline_submit(number: str, code: str, request: Request, user: Staff) -> Response:
    """Save (and with action=complete, complete) one discipline from the case page."""
    form = await request.form()
    number, code = number[:20], code[:2]
    case_url = f"/8d/{quote(number)}"
    if code not in eight_d.BY_CODE:
        raise PageBack(case_url, _("unknown discipline"))
    due = str(form.get("due_at") or "").strip()
    try:
        due_at = plant.from_input(due) if due else None  # typed in plant time
    except ValueError as exc:
        raise PageBack(f"{case_url}?step={quote(code)}", _("Give the due date like 2026-11-25 14:30."), code) from exc
    step_url = f"{case_url}?step={quote(code)}"
    with back_on_error(step_url, code):
        await in_transaction(
            request,
            lambda s: service.save_discipline(
                session=s,
                number=number,
                code=code,
                actor=user.username,
                data=form_data(code, form),
                owner=str(form.get("owner") or ""),
                due_at=due_at,
                may_move_due_dates=user.is_quality_engineer,
            ),
        )
    if form.get("action") != "complete":
        return RedirectResponse(f"{step_url}&saved=1#{quote(code)}", status_code=303)
    # A second transaction on purpose: what was typed stays saved when completing it is refused, and the
    # page says so ("saved, not completed") instead of "not saved".
    qe = user.is_quality_engineer
    try:
        await in_transaction(
            request,
            lambda s: service.complete_discipline(
                session=s, number=number, code=code, actor=user.username, actor_is_quality_engineer=qe
            ),
        )
    except DomainError as exc:
        return RedirectResponse(f"{step_url}&{urlencode({'refused': error_text(exc)})}#{quote(code)}", status_code=303)
    return RedirectResponse(f"{case_url}?{urlencode({'completed': code})}", status_code=303)


@router.post("/8d/{number}/reopen")
def case_reopen(
    number: str, request: Request, session: SessionDep, user: Engineer, reason: Annotated[str, Form(max_length=500)]
) -> Response:
    """Reopen on recurrence."""
    with back_on_error(f"/8d/{quote(number)}"):
        service.reopen_case(
            session=session,
            number=number[:20],
            reason=reason,
            actor=user.username,
            due_hours=get_settings(request).eight_d_due_hours,
        )
    return RedirectResponse(f"/8d/{quote(number)}", status_code=303)
