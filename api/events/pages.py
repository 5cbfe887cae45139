"""The webhook subscribers page for admins: add, pause / resume, rotate the secret, replay dead letters, the log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import Admin, SessionDep
from api.events.routes import master_secret
from api.render import PageBack, back_on_error, render
from services.events import service
from services.events.schemas import EventType, SubscriberCreate, SubscriberSecret

router = APIRouter(include_in_schema=False)
PAGE = "/admin/events"


def _page(
    request: Request, session: SessionDep, user: Admin, *, secret: SubscriberSecret | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "events.html",
        status=status,
        user=user,
        subscribers=service.list_subscribers(session=session),
        types=list(EventType),
        secret=secret,
        error=request.query_params.get("error"),
        done=request.query_params.get("done"),
    )


@router.get(PAGE, response_class=HTMLResponse)
def events_page(request: Request, session: SessionDep, user: Admin) -> Response:
    """Every subscriber with its state, lag and dead letters; the form to add one."""
    return _page(request, session, user)


@router.post(PAGE, response_class=HTMLResponse)
def add_subscriber(
    request: Request,
    session: SessionDep,
    user: Admin,
    name: Annotated[str, Form(max_length=40)],
    url: Annotated[str, Form(max_length=500)],
    types: Annotated[list[str] | None, Form()] = None,
    batch_size: Annotated[int, Form(ge=1, le=1000)] = 100,
    from_start: Annotated[bool, Form()] = False,
) -> Response:
    """Add a receiver and show its secret once (in this answer only: never in a URL, never again)."""
    try:
        spec = SubscriberCreate.model_validate(
            {"name": name.strip(), "url": url.strip(), "types": types or [], "batch_size": batch_size}
        )
    except ValidationError as exc:
        raise PageBack(PAGE, "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())) from exc
    with back_on_error(PAGE):
        secret = service.create_subscriber(
            session=session, spec=spec, master_secret=master_secret(request), actor=user.username, from_start=from_start
        )
    return _page(request, session, user, secret=secret, status=201)


@router.post(PAGE + "/{subscriber_id}/{action}", response_class=HTMLResponse)
def subscriber_action(subscriber_id: int, action: str, request: Request, session: SessionDep, user: Admin) -> Response:
    """pause | resume | rotate | replay | delete, then back to the list (rotate shows the new secret once)."""
    with back_on_error(PAGE):
        if action in ("pause", "resume"):
            sub = service.set_paused(session=session, subscriber_id=subscriber_id, paused=action == "pause", actor=user.username)
            done = f"{sub.name} {'paused' if sub.paused else 'resumed'}"
        elif action == "rotate":
            secret = service.rotate_secret(
                session=session, subscriber_id=subscriber_id, master_secret=master_secret(request), actor=user.username
            )
            return _page(request, session, user, secret=secret)
        elif action == "replay":
            n = service.replay(session=session, subscriber_id=subscriber_id, ids=None, actor=user.username)
            done = f"{n} dead letter(s) queued for replay"
        elif action == "delete":
            name = service.get_subscriber(session=session, subscriber_id=subscriber_id).name
            service.delete_subscriber(session=session, subscriber_id=subscriber_id, actor=user.username)
            done = f"{name} removed"
        else:
            raise PageBack(PAGE, f"unknown action {action[:20]}")
    return RedirectResponse(f"{PAGE}?{urlencode({'done': done})}", status_code=303)


@router.get(PAGE + "/{subscriber_id}", response_class=HTMLResponse)
def subscriber_page(subscriber_id: int, request: Request, session: SessionDep, user: Admin) -> Response:
    """One subscriber: its dead letters and the latest delivery attempts."""
    with back_on_error(PAGE):
        sub = service.get_subscriber(session=session, subscriber_id=subscriber_id)
    return render(
        request,
        "event_subscriber.html",
        user=user,
        sub=sub,
        dead=service.dead_letters(session=session, subscriber_id=subscriber_id),
        log=service.deliveries(session=session, subscriber_id=subscriber_id),
    )
