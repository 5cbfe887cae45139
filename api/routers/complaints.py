"""Complaints, 8D cases and PPM metrics over JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ERRORS, SessionDep, get_blobs, get_settings, require
from api.web.report import render_html, render_pdf
from services.complaints import service, views
from services.complaints.report import build_report
from services.core.db import transaction
from services.core.errors import InvalidInput, NotFound
from services.core.time import utcnow
from services.metrics import ppm as metrics
from services.security.service import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["complaints"], responses=ERRORS)
Staff = Annotated[Principal, Depends(require(Role.CUSTOMER_SERVICE, Role.QUALITY_ENGINEER))]
Engineer = Annotated[Principal, Depends(require(Role.QUALITY_ENGINEER))]
CaseNo = Annotated[str, Path(pattern=r"^8D-\d{4}-\d{4,6}$")]
ComplaintNo = Annotated[str, Path(pattern=r"^C-\d{4}-\d{4,6}$")]
Code = Annotated[str, Path(pattern=r"^D[0-8]$")]
Month = Annotated[str, Query(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$")]


class ComplaintCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=80)
    project: str = Field(default="", max_length=120)
    site: str = Field(default="", max_length=120)
    received_at: AwareDatetime
    channel: Literal["email", "phone", "portal", "visit", "distributor"]
    symptom: Literal["power_loss", "hot_spot", "cell_crack", "snail_trail", "delamination", "pid", "broken_glass", "junction_box",
                     "frame", "visual", "other"]  # fmt: skip
    severity: Literal["critical", "major", "minor"]
    description: str = Field(min_length=1, max_length=10_000)
    barcodes: list[str] = Field(min_length=1, max_length=5000)
    case: str | None = Field(
        default=None, pattern=r"^8D-\d{4}-\d{4,6}$", description="join this open 8D case instead of starting one"
    )


class ComplaintCreated(BaseModel):
    complaint: views.ComplaintRead
    unknown_barcodes: list[str]


class Judgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    justified: bool
    reason: str = Field(min_length=3, max_length=500)


class DisciplineUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] | None = None
    owner: str | None = Field(default=None, max_length=64)
    due_at: AwareDatetime | None = None


class Reopen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str = Field(pattern=r"^8D-\d{4}-\d{4,6}$")


class DefinitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numerator_status: Literal["justified", "justified_or_open"]
    denominator_window: Literal["same_period", "trailing_12_months"]
    attribution: Literal["complaint_date", "shipment_cohort"]
    note: str = Field(default="", max_length=500)


class DefinitionRead(BaseModel):
    version: int
    numerator_status: str
    denominator_window: str
    attribution: str
    note: str
    created_by: str
    created_at: datetime


@router.post("/complaints", status_code=201)
def create_complaint(body: ComplaintCreate, request: Request, session: SessionDep, p: Staff) -> ComplaintCreated:
    """Open a complaint; its barcodes are checked against traceability and an 8D case starts (48 h first-response clock)."""
    c, unknown = service.create_complaint(
        session=session, customer=body.customer, project=body.project, site=body.site, received_at=body.received_at,
        channel=body.channel, symptom=body.symptom, severity=body.severity, description=body.description, barcodes=body.barcodes,
        actor=p.username, due_hours=get_settings(request).eight_d_due_hours, case_number=body.case,
    )  # fmt: skip
    return ComplaintCreated(complaint=views.complaint_read(session, c), unknown_barcodes=unknown)


@router.get("/complaints")
def list_complaints(
    session: SessionDep,
    p: Staff,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    customer: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    """Complaints, newest first."""
    items, total = views.list_complaints(session, offset=offset, limit=limit, customer=customer)
    return {"items": [i.model_dump(mode="json") for i in items], "total": total, "offset": offset, "limit": limit}


@router.get("/complaints/{number}")
def get_complaint(number: ComplaintNo, session: SessionDep, p: Staff) -> views.ComplaintRead:
    """One complaint."""
    return views.get_complaint(session, number)


@router.post("/complaints/{number}/judgement")
def judge(number: ComplaintNo, body: Judgement, session: SessionDep, p: Engineer) -> views.ComplaintRead:
    """Justified or not after analysis (only justified complaints count in PPM)."""
    c = service.judge(session=session, number=number, justified=body.justified, reason=body.reason, actor=p.username)
    return views.complaint_read(session, c)


@router.post("/complaints/{number}/attachments", status_code=201)
async def attach(number: ComplaintNo, file: UploadFile, request: Request, p: Staff) -> views.AttachmentRead:
    """Add a photo, field EL image or PDF (10 MiB at most; type read from the bytes)."""
    data = await file.read(service.MAX_ATTACHMENT_BYTES + 1)
    return await run_in_threadpool(_attach_sync, request, number, file.filename or "attachment", data, p.username)


def _attach_sync(request: Request, number: str, filename: str, data: bytes, actor: str) -> views.AttachmentRead:
    with transaction(request.app.state.sessions) as session:
        att = service.add_attachment(
            session=session, blobs=get_blobs(request), number=number, filename=filename, data=data, actor=actor
        )
        return views.AttachmentRead.model_validate(att, from_attributes=True)


@router.get("/complaints/{number}/attachments/{attachment_id}", response_class=Response)
def get_attachment(number: ComplaintNo, attachment_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, session: SessionDep,
                   p: Staff) -> Response:  # fmt: skip
    """The attachment's bytes."""
    c = views.get_complaint(session, number)
    att = next((a for a in c.attachments if a.id == attachment_id), None)
    if att is None:
        raise NotFound(f"no attachment {attachment_id} on {number}")
    return Response(get_blobs(request).get(att.sha256), media_type=att.content_type,
                    headers={"Content-Disposition": f'inline; filename="{att.filename}"'})  # fmt: skip


@router.post("/complaints/{number}/case")
def link(number: ComplaintNo, body: Link, session: SessionDep, p: Staff) -> views.ComplaintRead:
    """Put the complaint under another open 8D case (one case for several complaints)."""
    return views.complaint_read(
        session, service.link_complaint(session=session, number=number, case_number=body.case, actor=p.username)
    )


@router.get("/8d")
def list_cases(
    session: SessionDep,
    p: Staff,
    status: Literal["open", "closed"] | None = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    overdue: bool = False,
) -> list[views.CaseSummary]:
    """8D cases, overdue first; `owner=me` for the caller's own."""
    return views.list_cases(session, status=status, owner=p.username if owner == "me" else owner, overdue_only=overdue)


@router.get("/8d/{number}")
def get_case(number: CaseNo, session: SessionDep, p: Staff) -> views.CaseRead:
    """A case with every discipline (fields, data, what blocks completion, due dates)."""
    return views.get_case(session, number)


@router.patch("/8d/{number}/disciplines/{code}")
def save_discipline(number: CaseNo, code: Code, body: DisciplineUpdate, session: SessionDep, p: Staff) -> views.CaseRead:
    """Save fields (merged), owner or due date of an open discipline."""
    service.save_discipline(session=session, number=number, code=code, actor=p.username, data=body.data, owner=body.owner,
                            due_at=body.due_at)  # fmt: skip
    return views.get_case(session, number)


@router.post("/8d/{number}/disciplines/{code}/complete")
def complete_discipline(number: CaseNo, code: Code, session: SessionDep, p: Staff) -> views.CaseRead:
    """Complete a discipline (required fields, order); D8 closes the case and needs a quality engineer."""
    service.complete_discipline(session=session, number=number, code=code, actor=p.username,
                                actor_is_quality_engineer=p.role in (Role.QUALITY_ENGINEER, Role.ADMIN))  # fmt: skip
    return views.get_case(session, number)


@router.post("/8d/{number}/reopen")
def reopen(number: CaseNo, body: Reopen, request: Request, session: SessionDep, p: Engineer) -> views.CaseRead:
    """Recurrence: reopen a closed case; D4..D8 go back to work."""
    service.reopen_case(session=session, number=number, reason=body.reason, actor=p.username,
                        due_hours=get_settings(request).eight_d_due_hours)  # fmt: skip
    return views.get_case(session, number)


@router.get("/8d/{number}/d3-suspects")
def d3_suspects(number: CaseNo, session: SessionDep, p: Staff) -> dict[str, Any]:
    """The suspect population for D3 from the containment query, by location."""
    return views.d3_suspects(session, number)


@router.get("/8d/{number}/report.html", response_class=Response, responses={200: {"content": {"text/html": {}}}})
def report_html(number: CaseNo, request: Request, session: SessionDep, p: Staff) -> Response:
    """The printable 8D report (HTML)."""
    return HTMLResponse(render_html(build_report(session, number)))


@router.get("/8d/{number}/report.pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def report_pdf(number: CaseNo, request: Request, session: SessionDep, p: Staff) -> Response:
    """The 8D report as PDF, with attached images."""
    data = render_pdf(build_report(session, number), get_blobs(request))
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'})


@router.get("/metrics/ppm")
def get_ppm(
    session: SessionDep,
    p: Staff,
    first: Month | None = None,
    last: Month | None = None,
    group_by: Literal["customer", "product", "factory"] | None = None,
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
    return [DefinitionRead.model_validate(d, from_attributes=True) for d in metrics.definitions(session)]


@router.post("/metrics/ppm-definitions", status_code=201)
def create_definition(body: DefinitionCreate, session: SessionDep, p: Engineer) -> DefinitionRead:
    """A new definition version (becomes the default; old versions stay selectable)."""
    if not body.note.strip():
        raise InvalidInput("say why the definition changes (note)")
    d = metrics.new_definition(session=session, numerator_status=body.numerator_status, denominator_window=body.denominator_window,
                               attribution=body.attribution, note=body.note, actor=p.username)  # fmt: skip
    return DefinitionRead.model_validate(d, from_attributes=True)
