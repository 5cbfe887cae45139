"""Complaints and 8D cases over JSON (the PPM figures are in api.metrics)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.complaints.report import render_html, render_pdf
from api.deps import ERRORS, Engineer, SessionDep, Staff, get_blobs, get_settings, in_transaction
from api.headers import CSP, UPLOAD_CSP
from api.i18n import N_
from api.limits import takes_upload
from services.complaints import service, views
from services.complaints.report import build_report
from services.complaints.schemas import (
    CASE_NUMBER,
    COMPLAINT_NUMBER,
    AttachmentRead,
    CaseRead,
    CaseStatus,
    CaseSummary,
    ComplaintCreate,
    ComplaintCreated,
    ComplaintRead,
    DisciplineUpdate,
    Judgement,
    Link,
    Reopen,
)
from services.core.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["complaints"], responses=ERRORS)
CaseNo = Annotated[str, Path(pattern=CASE_NUMBER)]
ComplaintNo = Annotated[str, Path(pattern=COMPLAINT_NUMBER)]
Code = Annotated[str, Path(pattern=r"^D[0-8]$")]


@router.post("/complaints", status_code=201)
def create_complaint(body: ComplaintCreate, request: Request, session: SessionDep, p: Staff) -> ComplaintCreated:
    """Open a complaint; its barcodes are checked against traceability and an 8D case starts (48 h first-response clock)."""
    c, unknown = service.create_complaint(
        session=session,
        customer=body.customer,
        project=body.project,
        site=body.site,
        received_at=body.received_at,
        channel=body.channel,
        symptom=body.symptom,
        severity=body.severity,
        description=body.description,
        barcodes=body.barcodes,
        actor=p.username,
        due_hours=get_settings(request).eight_d_due_hours,
        case_number=body.case,
    )
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
def get_complaint(number: ComplaintNo, session: SessionDep, p: Staff) -> ComplaintRead:
    """One complaint."""
    return views.get_complaint(session, number)


@router.post("/complaints/{number}/judgement")
def judge(number: ComplaintNo, body: Judgement, session: SessionDep, p: Engineer) -> ComplaintRead:
    """Justified or not after analysis (only justified complaints count in PPM)."""
    c = service.judge(session=session, number=number, justified=body.justified, reason=body.reason, actor=p.username)
    return views.complaint_read(session, c)


@router.post("/complaints/{number}/attachments", status_code=201)
@takes_upload("max_upload_bytes")
async def attach(number: ComplaintNo, file: UploadFile, request: Request, p: Staff) -> AttachmentRead:
    """Add a photo, field EL image or PDF (10 MiB at most; type read from the bytes)."""
    data = await file.read(service.MAX_ATTACHMENT_BYTES + 1)
    blobs, name = get_blobs(request), file.filename or "attachment"
    att = await in_transaction(
        request,
        lambda s: service.add_attachment(session=s, blobs=blobs, number=number, filename=name, data=data, actor=p.username),
    )
    return AttachmentRead.model_validate(att)


@router.get("/complaints/{number}/attachments/{attachment_id}", response_class=Response)
def get_attachment(
    number: ComplaintNo, attachment_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, session: SessionDep, p: Staff
) -> Response:
    """The attachment's bytes."""
    c = views.get_complaint(session, number)
    att = next((a for a in c.attachments if a.id == attachment_id), None)
    if att is None:
        raise NotFound(N_("no attachment %(id)s on %(number)s"), id=attachment_id, number=number)
    return Response(
        get_blobs(request).get(att.sha256),
        media_type=att.content_type,
        headers=_attachment_headers(att.filename, att.content_type),
    )


@router.post("/complaints/{number}/case")
def link(number: ComplaintNo, body: Link, session: SessionDep, p: Staff) -> ComplaintRead:
    """Put the complaint under another open 8D case (one case for several complaints)."""
    return views.complaint_read(
        session, service.link_complaint(session=session, number=number, case_number=body.case, actor=p.username)
    )


@router.get("/8d")
def list_cases(
    session: SessionDep,
    p: Staff,
    status: CaseStatus | None = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    overdue: bool = False,
) -> list[CaseSummary]:
    """8D cases, overdue first; `owner=me` for the caller's own."""
    return views.list_cases(session, status=status, owner=p.username if owner == "me" else owner, overdue_only=overdue)


@router.get("/8d/{number}")
def get_case(number: CaseNo, session: SessionDep, p: Staff) -> CaseRead:
    """A case with every discipline (fields, data, what blocks completion, due dates)."""
    return views.get_case(session, number)


@router.patch("/8d/{number}/disciplines/{code}")
def save_discipline(number: CaseNo, code: Code, body: DisciplineUpdate, session: SessionDep, p: Staff) -> CaseRead:
    """Save fields (merged), owner or due date of an open discipline."""
    service.save_discipline(
        session=session,
        number=number,
        code=code,
        actor=p.username,
        data=body.data,
        owner=body.owner,
        due_at=body.due_at,
        may_move_due_dates=p.is_quality_engineer,
    )
    return views.get_case(session, number)


@router.post("/8d/{number}/disciplines/{code}/complete")
def complete_discipline(number: CaseNo, code: Code, session: SessionDep, p: Staff) -> CaseRead:
    """Complete a discipline (required fields, order); D8 closes the case and needs a quality engineer."""
    service.complete_discipline(
        session=session,
        number=number,
        code=code,
        actor=p.username,
        actor_is_quality_engineer=p.is_quality_engineer,
    )
    return views.get_case(session, number)


@router.post("/8d/{number}/reopen")
def reopen(number: CaseNo, body: Reopen, request: Request, session: SessionDep, p: Engineer) -> CaseRead:
    """Recurrence: reopen a closed case; D4..D8 go back to work."""
    service.reopen_case(
        session=session, number=number, reason=body.reason, actor=p.username, due_hours=get_settings(request).eight_d_due_hours
    )
    return views.get_case(session, number)


@router.get("/8d/{number}/d3-suspects")
def d3_suspects(number: CaseNo, session: SessionDep, p: Staff) -> dict[str, Any]:
    """The suspect population for D3 from the containment query, by location."""
    return views.d3_suspects(session, number)


@router.get("/8d/{number}/report.html", response_class=Response, responses={200: {"content": {"text/html": {}}}})
def report_html(number: CaseNo, request: Request, session: SessionDep, p: Staff) -> Response:
    """The printable 8D report (HTML)."""
    # The printable report keeps its stylesheet inline (it is also saved as one file): styles only, no script.
    csp = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    return HTMLResponse(render_html(build_report(session, number)), headers={"Content-Security-Policy": csp})


@router.get("/8d/{number}/report.pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def report_pdf(number: CaseNo, request: Request, session: SessionDep, p: Staff) -> Response:
    """The 8D report as PDF, with attached images."""
    data = render_pdf(build_report(session, number), get_blobs(request))
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'})


def _attachment_headers(filename: str, content_type: str) -> dict[str, str]:
    """Images are shown in a sandbox; anything else (a PDF that may carry script) is a download."""
    how = "inline" if content_type.startswith("image/") else "attachment"
    return {"Content-Disposition": f'{how}; filename="{filename}"', "Content-Security-Policy": UPLOAD_CSP}
