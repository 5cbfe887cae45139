"""The events feed (MES clients), signed picture links (no session: the signature is the credential),
and webhook subscribers (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response

from api.deps import ERRORS, Admin, MesDep, SessionDep, get_blobs, get_settings
from api.headers import UPLOAD_CSP
from api.i18n import N_
from services.events import service
from services.events.schemas import (
    DeadLetterRead,
    DeliveryLogRead,
    FeedPage,
    SubscriberCreate,
    SubscriberRead,
    SubscriberSecret,
    SubscriberUpdate,
)
from services.events.signing import picture_query, picture_valid
from services.imagestore.store import load_image
from services.security.service import AuthFailed

router = APIRouter(prefix="/api/v1", tags=["events"], responses=ERRORS)
pictures = APIRouter(prefix="/api/v1", tags=["events"], responses=ERRORS)
Sha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


def picture_url_for(request: Request):  # type: ignore[no-untyped-def]
    """A function sha256 -> signed, short-lived picture link on this server."""
    s = get_settings(request)
    master = s.secret_key.get_secret_value().encode()
    base = s.public_url.rstrip("/")
    return lambda sha: f"{base}/api/v1/pictures/{sha}?{picture_query(master, sha)}"


@router.get("/events")
def get_events(
    request: Request,
    session: SessionDep,
    client: MesDep,
    after: Annotated[str | None, Query(description="the `next` of the previous page; empty: from the start")] = None,
    types: Annotated[str | None, Query(description="comma-separated event types; empty: all")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FeedPage:
    """Events after the cursor in commit order (CloudEvents 1.0, structured); poll again with `next`."""
    s = get_settings(request)
    events, nxt = service.feed(
        session=session,
        after=service.parse_cursor(after),
        types=service.parse_types(types),
        limit=limit,
        source=s.event_source,
        picture_url=picture_url_for(request),
    )
    return FeedPage(events=events, next=str(nxt))


@pictures.get("/pictures/{sha256}", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def get_picture(
    sha256: Sha,
    request: Request,
    session: SessionDep,
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=64)],
) -> Response:
    """A picture an event links to; the link's signature and expiry are the credential."""
    if not picture_valid(get_settings(request).secret_key.get_secret_value().encode(), sha256, expires, sig):
        raise AuthFailed(N_("picture link invalid or expired"))
    data, ctype = load_image(session=session, blobs=get_blobs(request), sha256=sha256)
    return Response(
        content=data, media_type=ctype, headers={"Cache-Control": "private, max-age=300", "Content-Security-Policy": UPLOAD_CSP}
    )


def master_secret(request: Request) -> bytes:
    """The server secret that webhook secrets are derived from."""
    return get_settings(request).secret_key.get_secret_value().encode()


@router.get("/event-subscribers")
def list_subscribers(session: SessionDep, p: Admin) -> list[SubscriberRead]:
    """Every webhook subscriber with its lag and dead letters."""
    return service.list_subscribers(session=session)


@router.post("/event-subscribers", status_code=201)
def create_subscriber(
    request: Request,
    session: SessionDep,
    p: Admin,
    spec: SubscriberCreate,
    from_start: Annotated[bool, Query(description="also deliver every event already in the outbox")] = False,
) -> SubscriberSecret:
    """Register a receiver; its signing secret is shown once."""
    return service.create_subscriber(
        session=session, spec=spec, master_secret=master_secret(request), actor=p.username, from_start=from_start
    )


@router.get("/event-subscribers/{subscriber_id}")
def get_subscriber(subscriber_id: int, session: SessionDep, p: Admin) -> SubscriberRead:
    """One subscriber."""
    return service.get_subscriber(session=session, subscriber_id=subscriber_id)


@router.patch("/event-subscribers/{subscriber_id}")
def update_subscriber(subscriber_id: int, session: SessionDep, p: Admin, change: SubscriberUpdate) -> SubscriberRead:
    """Change URL, types, batch size or timeout."""
    return service.update_subscriber(session=session, subscriber_id=subscriber_id, change=change, actor=p.username)


@router.delete("/event-subscribers/{subscriber_id}", status_code=204, response_class=Response)
def delete_subscriber(subscriber_id: int, session: SessionDep, p: Admin) -> Response:
    """Remove a subscriber (its dead letters and log go with it)."""
    service.delete_subscriber(session=session, subscriber_id=subscriber_id, actor=p.username)
    return Response(status_code=204)


@router.post("/event-subscribers/{subscriber_id}/pause")
def pause_subscriber(subscriber_id: int, session: SessionDep, p: Admin) -> SubscriberRead:
    """Stop delivering (events wait in the outbox)."""
    return service.set_paused(session=session, subscriber_id=subscriber_id, paused=True, actor=p.username)


@router.post("/event-subscribers/{subscriber_id}/resume")
def resume_subscriber(subscriber_id: int, session: SessionDep, p: Admin) -> SubscriberRead:
    """Deliver again, at once."""
    return service.set_paused(session=session, subscriber_id=subscriber_id, paused=False, actor=p.username)


@router.post("/event-subscribers/{subscriber_id}/rotate-secret")
def rotate_secret(subscriber_id: int, request: Request, session: SessionDep, p: Admin) -> SubscriberSecret:
    """A new signing secret (shown once); the old one keeps signing beside it for 24 h."""
    return service.rotate_secret(
        session=session, subscriber_id=subscriber_id, master_secret=master_secret(request), actor=p.username
    )


@router.get("/event-subscribers/{subscriber_id}/dead-letters")
def dead_letters(subscriber_id: int, session: SessionDep, p: Admin) -> list[DeadLetterRead]:
    """Events the receiver refused for good, newest first."""
    return service.dead_letters(session=session, subscriber_id=subscriber_id)


@router.post("/event-subscribers/{subscriber_id}/dead-letters/replay")
def replay(
    subscriber_id: int,
    session: SessionDep,
    p: Admin,
    ids: Annotated[list[int] | None, Body(embed=True, description="dead letter ids; omitted: every pending one")] = None,
) -> dict[str, int]:
    """Send dead letters again (the deliverer picks them up on its next pass)."""
    return {"requested": service.replay(session=session, subscriber_id=subscriber_id, ids=ids, actor=p.username)}


@router.get("/event-subscribers/{subscriber_id}/deliveries")
def deliveries(subscriber_id: int, session: SessionDep, p: Admin) -> list[DeliveryLogRead]:
    """The latest delivery attempts (status, time, error)."""
    return service.deliveries(session=session, subscriber_id=subscriber_id)
