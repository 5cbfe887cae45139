"""Queries of the events domain (select() only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from services.events.orm import EventDeadLetter, EventDeliveryLog, EventLease, EventSubscriber, OutboxEvent


def unsequenced(session: Session, limit: int) -> Sequence[int]:
    """seq of visible events without a position, oldest first."""
    stmt = select(OutboxEvent.seq).where(OutboxEvent.position.is_(None)).order_by(OutboxEvent.seq).limit(limit)
    return session.scalars(stmt).all()


def last_position(session: Session) -> int:
    """The highest position given so far (0: none)."""
    return int(session.scalar(select(func.max(OutboxEvent.position))) or 0)


def set_positions(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    """(seq, position) pairs, in one executemany."""
    if pairs:
        table = OutboxEvent.__table__
        stmt = table.update().where(table.c.seq == bindparam("s")).values(position=bindparam("p"))
        session.connection().execute(stmt, [{"s": s, "p": p} for s, p in pairs])


def after(session: Session, position: int, *, types: Sequence[str] = (), limit: int = 100) -> Sequence[OutboxEvent]:
    """Sequenced events after a position, in position order, of the given types (empty: all)."""
    stmt = select(OutboxEvent).where(OutboxEvent.position > position)
    if types:
        stmt = stmt.where(OutboxEvent.type.in_(list(types)))
    return session.scalars(stmt.order_by(OutboxEvent.position).limit(limit)).all()


def positions_after(session: Session, position: int, *, types: Sequence[str] = (), limit: int = 100) -> Sequence[int]:
    """The positions `after` would return (the deliverer loads each event once for every subscriber)."""
    stmt = select(OutboxEvent.position).where(OutboxEvent.position > position)
    if types:
        stmt = stmt.where(OutboxEvent.type.in_(list(types)))
    return [p for p in session.scalars(stmt.order_by(OutboxEvent.position).limit(limit)).all() if p is not None]


def move_cursor(session: Session, subscriber_id: int, *, expected: int, to: int) -> None:
    """Move a subscriber's cursor forward, unless it moved meanwhile."""
    session.execute(
        update(EventSubscriber).where(EventSubscriber.id == subscriber_id, EventSubscriber.cursor == expected).values(cursor=to)
    )


def by_positions(session: Session, positions: Sequence[int]) -> Sequence[OutboxEvent]:
    """Events at these positions, in position order."""
    stmt = select(OutboxEvent).where(OutboxEvent.position.in_(list(positions))).order_by(OutboxEvent.position)
    return session.scalars(stmt).all()


def subscribers(session: Session) -> Sequence[EventSubscriber]:
    """Every subscriber, by name."""
    return session.scalars(select(EventSubscriber).order_by(EventSubscriber.name)).all()


def subscriber(session: Session, subscriber_id: int, *, for_update: bool = False) -> EventSubscriber | None:
    """One subscriber."""
    return session.get(EventSubscriber, subscriber_id, with_for_update=for_update)


def subscriber_by_name(session: Session, name: str) -> EventSubscriber | None:
    """One subscriber by its name."""
    return session.scalar(select(EventSubscriber).where(EventSubscriber.name == name))


def lag(session: Session, sub: EventSubscriber) -> int:
    """Sequenced events of the subscriber's types not yet delivered."""
    stmt = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.position > sub.cursor)
    if sub.types:
        stmt = stmt.where(OutboxEvent.type.in_(sub.types))
    return int(session.scalar(stmt) or 0)


def dead_letters(
    session: Session, subscriber_id: int, *, pending_only: bool = False, limit: int = 200
) -> Sequence[EventDeadLetter]:
    """A subscriber's dead letters, newest first (pending_only: not yet replayed)."""
    stmt = select(EventDeadLetter).where(EventDeadLetter.subscriber_id == subscriber_id)
    if pending_only:
        stmt = stmt.where(EventDeadLetter.replayed_at.is_(None))
    return session.scalars(stmt.order_by(EventDeadLetter.id.desc()).limit(limit)).all()


def dead_letter_count(session: Session, subscriber_id: int) -> int:
    """Dead letters not replayed yet."""
    stmt = select(func.count()).where(EventDeadLetter.subscriber_id == subscriber_id, EventDeadLetter.replayed_at.is_(None))
    return int(session.scalar(stmt) or 0)


def subscribers_replaying(session: Session) -> set[int]:
    """Ids of the subscribers with dead letters waiting to be sent again."""
    stmt = select(EventDeadLetter.subscriber_id).where(
        EventDeadLetter.replay_requested_at.is_not(None), EventDeadLetter.replayed_at.is_(None)
    )
    return set(session.scalars(stmt.distinct()).all())


def replay_requested(session: Session, subscriber_id: int, limit: int = 50) -> Sequence[EventDeadLetter]:
    """Dead letters an admin asked to send again, oldest first."""
    stmt = (
        select(EventDeadLetter)
        .where(
            EventDeadLetter.subscriber_id == subscriber_id,
            EventDeadLetter.replay_requested_at.is_not(None),
            EventDeadLetter.replayed_at.is_(None),
        )
        .order_by(EventDeadLetter.position)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def request_replay(session: Session, subscriber_id: int, ids: Sequence[int] | None, now: datetime) -> int:
    """Mark dead letters (all pending ones when ids is None) for replay; returns how many."""
    stmt = update(EventDeadLetter).where(EventDeadLetter.subscriber_id == subscriber_id, EventDeadLetter.replayed_at.is_(None))
    if ids is not None:
        stmt = stmt.where(EventDeadLetter.id.in_(list(ids)))
    return int(session.execute(stmt.values(replay_requested_at=now)).rowcount or 0)  # type: ignore[attr-defined]


def delivery_log(session: Session, subscriber_id: int, limit: int = 100) -> Sequence[EventDeliveryLog]:
    """A subscriber's latest delivery attempts."""
    stmt = select(EventDeliveryLog).where(EventDeliveryLog.subscriber_id == subscriber_id).order_by(EventDeliveryLog.id.desc())
    return session.scalars(stmt.limit(limit)).all()


def prune_log(session: Session, before: datetime) -> None:
    """Drop delivery log rows older than before."""
    session.execute(delete(EventDeliveryLog).where(EventDeliveryLog.at < before))


def lease(session: Session, name: str) -> EventLease | None:
    """The lease row, locked."""
    return session.get(EventLease, name, with_for_update=True)


def dead_letter(session: Session, dead_letter_id: int) -> EventDeadLetter | None:
    """One dead letter."""
    return session.get(EventDeadLetter, dead_letter_id)
