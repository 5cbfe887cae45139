"""Writing events in the caller's transaction, sequencing them in commit order, framing them as CloudEvents,
and the subscribers an admin manages. Services never commit; the boundary does."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.events import repository as repo
from services.events.orm import EventSubscriber, OutboxEvent
from services.events.schemas import (
    SEQUENCE_DIGITS,
    SPEC_VERSION,
    DeadLetterRead,
    DeliveryLogRead,
    EventType,
    SubscriberCreate,
    SubscriberRead,
    SubscriberSecret,
    SubscriberUpdate,
)
from services.events.signing import derive_secret

ROTATION_GRACE = timedelta(hours=24)  # the old key keeps signing beside the new one while receivers switch
PictureUrl = Callable[[str], str]


def emit(*, session: Session, type: EventType, subject: str, data: Mapping[str, Any], at: datetime | None = None) -> str:
    """Add one event to the caller's transaction (it commits, or rolls back, with the change); returns its id."""
    return emit_many(session=session, events=[(type, subject, data, at)])[0]


def emit_many(*, session: Session, events: Sequence[tuple[EventType, str, Mapping[str, Any], datetime | None]]) -> list[str]:
    """Add events in one multi-row insert (an ingest batch emits one per new result)."""
    if not events:
        return []
    now = utcnow()
    rows = [
        {"id": str(uuid.uuid4()), "type": t.value, "subject": subject, "time": at or now, "data": dict(data), "position": None}
        for t, subject, data, at in events
    ]
    session.execute(insert(OutboxEvent), rows)
    return [r["id"] for r in rows]


def sequence(*, session: Session, limit: int = 5000) -> int:
    """Give visible, unsequenced events their positions in seq order; returns how many.

    Run by one process at a time (the delivery lease): a row becomes visible only when its
    transaction commits, so positions follow commit order and a cursor never skips a late commit.
    """
    seqs = repo.unsequenced(session, limit)
    if not seqs:
        return 0
    base = repo.last_position(session)
    repo.set_positions(session, [(s, base + i + 1) for i, s in enumerate(seqs)])
    return len(seqs)


def cloud_event(e: OutboxEvent, *, source: str, picture_url: PictureUrl | None = None) -> dict[str, Any]:
    """The CloudEvents 1.0 structured form of an outbox event (picture URLs signed now, short-lived)."""
    data = dict(e.data)
    if picture_url is not None:
        for key in ("picture", "overlay"):
            pic = data.get(key)
            if isinstance(pic, dict) and pic.get("sha256"):
                data[key] = {**pic, "url": picture_url(str(pic["sha256"]))}
    return {
        "specversion": SPEC_VERSION,
        "id": e.id,
        "source": source,
        "type": e.type,
        "subject": e.subject,
        "time": e.time.isoformat().replace("+00:00", "Z"),
        "sequence": str(e.position or 0).zfill(SEQUENCE_DIGITS),
        "datacontenttype": "application/json",
        "data": data,
    }


def parse_cursor(cursor: str | None) -> int:
    """The position an opaque feed cursor stands for ('' or None: the start)."""
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 19:
        raise InvalidInput(N_("cursor must be the `next` value of an earlier page"))
    return int(cursor)


def parse_types(types: str | None) -> list[str]:
    """A comma-separated list of event types (empty: all); unknown types are refused."""
    if not types:
        return []
    out = [t.strip() for t in types.split(",") if t.strip()]
    known = {t.value for t in EventType}
    bad = [t for t in out if t not in known]
    if bad:
        raise InvalidInput(N_("unknown event types: %(types)s"), types=", ".join(bad))
    return out


def feed(
    *, session: Session, after: int, types: Sequence[str], limit: int, source: str, picture_url: PictureUrl | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Events after a position, in commit order, and the position to ask after next."""
    rows = repo.after(session, after, types=types, limit=limit)
    events = [cloud_event(e, source=source, picture_url=picture_url) for e in rows]
    return events, (rows[-1].position or after) if rows else after


# ---- subscribers (admin) -----------------------------------------------------------------------


def _read(session: Session, sub: EventSubscriber) -> SubscriberRead:
    r = SubscriberRead.model_validate(sub)
    r.lag = repo.lag(session, sub)
    r.dead_letters = repo.dead_letter_count(session, sub.id)
    return r


def _new_key_id() -> str:
    return "k" + secrets.token_hex(3)


def list_subscribers(*, session: Session) -> list[SubscriberRead]:
    """Every subscriber with its lag and dead letters."""
    return [_read(session, s) for s in repo.subscribers(session)]


def get_subscriber(*, session: Session, subscriber_id: int) -> SubscriberRead:
    """One subscriber."""
    return _read(session, _sub(session, subscriber_id))


def _sub(session: Session, subscriber_id: int, *, lock: bool = False) -> EventSubscriber:
    sub = repo.subscriber(session, subscriber_id, for_update=lock)
    if sub is None:
        raise NotFound(N_("no subscriber %(id)s"), id=subscriber_id)
    return sub


def create_subscriber(
    *, session: Session, spec: SubscriberCreate, master_secret: bytes, actor: str, from_start: bool = False
) -> SubscriberSecret:
    """Register a receiver; it gets events committed from now on (from_start: the whole outbox)."""
    if repo.subscriber_by_name(session, spec.name) is not None:
        raise Conflict(N_("subscriber %(name)s already exists"), name=spec.name)
    sub = EventSubscriber(
        name=spec.name,
        url=str(spec.url),
        types=[t.value for t in spec.types],
        batch_size=spec.batch_size,
        timeout_s=spec.timeout_s,
        paused=False,
        key_id=_new_key_id(),
        cursor=0 if from_start else repo.last_position(session),
        delivered_total=0,
        attempts=0,
    )
    session.add(sub)
    session.flush()
    audit(
        session=session,
        actor=actor,
        action="subscriber.create",
        entity="event_subscriber",
        entity_id=sub.name,
        after={"url": sub.url, "types": sub.types, "key_id": sub.key_id},
    )
    return SubscriberSecret(
        subscriber=_read(session, sub), key_id=sub.key_id, secret=derive_secret(master_secret, sub.name, sub.key_id)
    )


def update_subscriber(*, session: Session, subscriber_id: int, change: SubscriberUpdate, actor: str) -> SubscriberRead:
    """Change a subscriber's URL, types, batch size or timeout."""
    sub = _sub(session, subscriber_id, lock=True)
    before = {"url": sub.url, "types": sub.types, "batch_size": sub.batch_size, "timeout_s": sub.timeout_s}
    if change.url is not None:
        sub.url = str(change.url)
    if change.types is not None:
        sub.types = [t.value for t in change.types]
    if change.batch_size is not None:
        sub.batch_size = change.batch_size
    if change.timeout_s is not None:
        sub.timeout_s = change.timeout_s
    after = {"url": sub.url, "types": sub.types, "batch_size": sub.batch_size, "timeout_s": sub.timeout_s}
    audit(
        session=session,
        actor=actor,
        action="subscriber.update",
        entity="event_subscriber",
        entity_id=sub.name,
        before=before,
        after=after,
    )
    return _read(session, sub)


def set_paused(*, session: Session, subscriber_id: int, paused: bool, actor: str) -> SubscriberRead:
    """Pause (events wait, nothing is lost) or resume a subscriber; resuming retries at once."""
    sub = _sub(session, subscriber_id, lock=True)
    sub.paused = paused
    if not paused:
        sub.next_at = None
    audit(
        session=session,
        actor=actor,
        action="subscriber.pause" if paused else "subscriber.resume",
        entity="event_subscriber",
        entity_id=sub.name,
    )
    return _read(session, sub)


def rotate_secret(*, session: Session, subscriber_id: int, master_secret: bytes, actor: str) -> SubscriberSecret:
    """A new key; the old one keeps signing beside it for ROTATION_GRACE so receivers can switch."""
    sub = _sub(session, subscriber_id, lock=True)
    sub.previous_key_id, sub.previous_key_until = sub.key_id, utcnow() + ROTATION_GRACE
    sub.key_id = _new_key_id()
    audit(
        session=session,
        actor=actor,
        action="subscriber.rotate",
        entity="event_subscriber",
        entity_id=sub.name,
        before={"key_id": sub.previous_key_id},
        after={"key_id": sub.key_id},
    )
    return SubscriberSecret(
        subscriber=_read(session, sub),
        key_id=sub.key_id,
        secret=derive_secret(master_secret, sub.name, sub.key_id),
        previous_key_valid_until=sub.previous_key_until,
    )


def delete_subscriber(*, session: Session, subscriber_id: int, actor: str) -> None:
    """Remove a subscriber with its dead letters and log."""
    sub = _sub(session, subscriber_id, lock=True)
    audit(
        session=session,
        actor=actor,
        action="subscriber.delete",
        entity="event_subscriber",
        entity_id=sub.name,
        before={"url": sub.url},
    )
    session.delete(sub)


def signing_keys(sub: EventSubscriber, master_secret: bytes, now: datetime) -> dict[str, str]:
    """key id -> secret of every key that signs deliveries now (two during a rotation)."""
    keys = {sub.key_id: derive_secret(master_secret, sub.name, sub.key_id)}
    if sub.previous_key_id and sub.previous_key_until and sub.previous_key_until > now:
        keys[sub.previous_key_id] = derive_secret(master_secret, sub.name, sub.previous_key_id)
    return keys


def replay(*, session: Session, subscriber_id: int, ids: Sequence[int] | None, actor: str) -> int:
    """Ask the deliverer to send dead letters again (all pending ones when ids is None)."""
    sub = _sub(session, subscriber_id)
    n = repo.request_replay(session, subscriber_id, ids, utcnow())
    audit(
        session=session,
        actor=actor,
        action="subscriber.replay",
        entity="event_subscriber",
        entity_id=sub.name,
        after={"dead_letters": n},
    )
    return n


def dead_letters(*, session: Session, subscriber_id: int) -> list[DeadLetterRead]:
    """A subscriber's dead letters with their event's type and subject, newest first."""
    _sub(session, subscriber_id)
    rows = repo.dead_letters(session, subscriber_id)
    events = {e.position: e for e in repo.by_positions(session, [d.position for d in rows])}
    return [
        DeadLetterRead(
            id=d.id,
            event_id=d.event_id,
            position=d.position,
            type=events[d.position].type if d.position in events else "",
            subject=events[d.position].subject if d.position in events else "",
            reason=d.reason,
            status=d.status,
            dead_at=d.dead_at,
            replay_requested_at=d.replay_requested_at,
            replayed_at=d.replayed_at,
        )
        for d in rows
    ]


def deliveries(*, session: Session, subscriber_id: int) -> list[DeliveryLogRead]:
    """A subscriber's latest delivery attempts."""
    _sub(session, subscriber_id)
    return [DeliveryLogRead.model_validate(r) for r in repo.delivery_log(session, subscriber_id)]
