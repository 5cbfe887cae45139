"""The deliverer: holds the lease, sequences the outbox, and posts each subscriber's events in order.

At least once: a subscriber's cursor moves only after its receiver acknowledged (2xx), in its own
commit; a crash between the two re-sends the batch and receivers drop event ids they have seen.
Order: one subscriber's events go out in position (commit) order, so a module's events arrive in
order; only a dead-lettered event (refused for good) leaves that order, and it says so in `sequence`.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.core.db import transaction
from services.core.time import utcnow
from services.events import metrics as m
from services.events import repository as repo
from services.events.orm import EventDeadLetter, EventDeliveryLog, EventLease, EventSubscriber, OutboxEvent
from services.events.service import PictureUrl, cloud_event, sequence, signing_keys
from services.events.signing import HEADER, sign

log = structlog.get_logger("eltrace.events")

RETRYABLE_4XX = {408, 409, 423, 425, 429}  # the receiver is busy or not ready: try again later
# Each event is loaded and framed once for every subscriber, not once per subscriber. A frame holds a
# picture link signed when it was framed, so frames expire long before the link does (15 min).
FRAME_TTL_S = 60.0
LAG_EVERY_S = 1.0  # how often the lag gauge is recounted
FRAME_CACHE_MAX = 20_000


@dataclass
class _Frame:
    event: OutboxEvent  # detached from its session
    body: bytes  # its CloudEvents JSON
    at: float


@dataclass
class DeliverySettings:
    """How the deliverer behaves."""

    master_secret: bytes
    source: str = "/eltrace"
    poll_s: float = 0.05
    lease_s: float = 15.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 300.0
    give_up_after_s: float = 24 * 3600.0  # a batch failing this long is dead-lettered so the rest can flow
    log_days: int = 7
    picture_url: PictureUrl | None = None
    holder: str = ""

    def resolved_holder(self) -> str:
        """This process's lease name."""
        return self.holder or f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Outcome:
    """What a receiver made of one POST."""

    ok: bool
    permanent: bool
    status: int | None
    error: str | None
    ms: float


class Deliverer:
    """One per deployment (the lease makes a second one wait)."""

    def __init__(self, sessions: sessionmaker[Session], settings: DeliverySettings, *, workers: int = 8) -> None:
        self.sessions = sessions
        self.s = settings
        self.holder = settings.resolved_holder()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self.clients: dict[int, httpx.Client] = {}
        self.lock = threading.Lock()
        self._pruned = 0.0
        self._lag_at = 0.0
        self._lease_fresh_until = 0.0
        self._frames: dict[int, _Frame] = {}  # position -> frame, insertion (= position) order

    # ---- lease and sequencer --------------------------------------------------------------------

    def hold_lease(self) -> bool:
        """Take or renew the lease; False while another live process holds it."""
        if time.monotonic() < self._lease_fresh_until:
            return True  # renewed moments ago: a third of the lease is left unused as margin
        now = utcnow()
        try:
            with transaction(self.sessions) as session:
                row = repo.lease(session, "deliver")
                if row is None:
                    session.add(
                        EventLease(name="deliver", holder=self.holder, expires_at=now + timedelta(seconds=self.s.lease_s))
                    )
                elif row.holder == self.holder or row.expires_at < now:
                    row.holder, row.expires_at = self.holder, now + timedelta(seconds=self.s.lease_s)
                else:
                    m.LEASE.set(0)
                    return False
        except IntegrityError:  # another process inserted the row first
            return False
        m.LEASE.set(1)
        self._lease_fresh_until = time.monotonic() + self.s.lease_s / 3
        return True

    def sequence_once(self) -> int:
        """Sequence what has committed since the last pass."""
        with transaction(self.sessions) as session:
            n = sequence(session=session)
        if n:
            m.SEQUENCED.inc(n)
        return n

    # ---- one subscriber -------------------------------------------------------------------------

    def _client(self, sub_id: int, timeout_s: float) -> httpx.Client:
        with self.lock:
            c = self.clients.get(sub_id)
            if c is None or c.timeout.read != timeout_s:
                c = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
                self.clients[sub_id] = c
            return c

    def _framed(self, session: Session, positions: list[int]) -> list[_Frame]:
        """The frames of these positions (loaded and framed on a miss), in their order."""
        now = time.monotonic()
        with self.lock:
            have = {p: f for p in positions if (f := self._frames.get(p)) is not None and now - f.at < FRAME_TTL_S}
        missing = [p for p in positions if p not in have]
        if missing:
            fresh = {}
            for e in repo.by_positions(session, missing):
                session.expunge(e)
                doc = cloud_event(e, source=self.s.source, picture_url=self.s.picture_url)
                fresh[e.position or 0] = _Frame(e, json.dumps(doc, separators=(",", ":")).encode(), now)
            with self.lock:
                self._frames.update(fresh)
                while len(self._frames) > FRAME_CACHE_MAX:
                    self._frames.pop(next(iter(self._frames)))
            have.update(fresh)
        return [have[p] for p in positions if p in have]

    def post(self, sub: EventSubscriber, events: list[OutboxEvent], keys: dict[str, str]) -> Outcome:
        """POST events (one structured event, or a batch) signed with keys."""
        with self.sessions() as session:
            frames = self._framed(session, [e.position or 0 for e in events])
        single = sub.batch_size == 1
        body = frames[0].body if single else b"[" + b",".join(f.body for f in frames) + b"]"
        headers = {
            "Content-Type": "application/cloudevents+json" if single else "application/cloudevents-batch+json",
            HEADER: sign(body, keys),
            "Eltrace-Delivery": str(uuid.uuid4()),
            "User-Agent": "eltrace-events/1",
        }
        t0 = time.perf_counter()
        try:
            r = self._client(sub.id, sub.timeout_s).post(sub.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            ms = (time.perf_counter() - t0) * 1000
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
            return Outcome(False, False, None, f"{kind}: {type(exc).__name__}", ms)
        ms = (time.perf_counter() - t0) * 1000
        m.POST_SECONDS.observe(ms / 1000)
        if 200 <= r.status_code < 300:
            return Outcome(True, False, r.status_code, None, ms)
        permanent = 400 <= r.status_code < 500 and r.status_code not in RETRYABLE_4XX
        return Outcome(False, permanent, r.status_code, f"HTTP {r.status_code}: {r.text[:200]}", ms)

    def deliver_once(self, sub_id: int, *, loaded: EventSubscriber | None = None, replays_pending: bool = True) -> int:
        """One batch for one subscriber (and its requested replays); returns events acknowledged.

        loaded / replays_pending: what this pass already read (one query for every subscriber, not one each).
        """
        now = utcnow()
        with self.sessions() as session:
            sub = loaded or repo.subscriber(session, sub_id)
            if sub is None or sub.paused or (sub.next_at is not None and sub.next_at > now):
                return 0
            if loaded is None:
                session.expunge(sub)
            positions = list(repo.positions_after(session, sub.cursor, types=sub.types, limit=sub.batch_size))
            if not positions and sub.types:
                self._skip_to(sub, repo.last_position(session))
            events = [f.event for f in self._framed(session, positions)]
            replays = list(repo.replay_requested(session, sub_id)) if replays_pending else []
            replay_events = {f.event.position: f.event for f in self._framed(session, [d.position for d in replays])}
        keys = signing_keys(sub, self.s.master_secret, now)
        done = 0
        if events:
            done += self._batch(sub, events, keys)
        for d in replays:
            e = replay_events.get(d.position)
            if e is None:
                continue
            out = self.post(sub, [e], keys)
            self._log(sub, [e], out)
            if out.ok:
                with transaction(self.sessions) as session:
                    row = repo.dead_letter(session, d.id)
                    if row is not None:
                        row.replayed_at = utcnow()
                done += 1
            else:
                break
        return done

    def _skip_to(self, sub: EventSubscriber, last: int) -> None:
        """Nothing of the subscriber's types up to `last`: move its cursor there, so later passes do not
        scan the same non-matching rows again (sequencing runs before delivery, so nothing lands below it)."""
        if last > sub.cursor:
            with transaction(self.sessions) as session:
                repo.move_cursor(session, sub.id, expected=sub.cursor, to=last)
            sub.cursor = last

    def _batch(self, sub: EventSubscriber, events: list[OutboxEvent], keys: dict[str, str]) -> int:
        out = self.post(sub, events, keys)
        if out.ok:  # the log line and the cursor in one commit: the common case costs one transaction
            self._advance(sub, events[-1].position or 0, acked=len(events), dead=[], logged=(events, out))
            return len(events)
        self._log(sub, events, out)
        if out.permanent and len(events) > 1:
            return self._one_by_one(sub, events, keys)
        if out.permanent:
            self._advance(sub, events[-1].position or 0, acked=0, dead=[(events[0], out)])
            return 0
        self._failed(sub, events, out)
        return 0

    def _one_by_one(self, sub: EventSubscriber, events: list[OutboxEvent], keys: dict[str, str]) -> int:
        """A batch was refused: find the event(s) the receiver refuses, deliver the others in order."""
        acked, dead, last = 0, [], sub.cursor
        for e in events:
            out = self.post(sub, [e], keys)
            self._log(sub, [e], out)
            if out.ok:
                acked += 1
            elif out.permanent:
                dead.append((e, out))
            else:
                self._advance(sub, last, acked=acked, dead=dead)
                self._failed(sub, [e], out)
                return acked
            last = e.position or last
        self._advance(sub, last, acked=acked, dead=dead)
        return acked

    def _advance(
        self,
        sub: EventSubscriber,
        cursor: int,
        *,
        acked: int,
        dead: list[tuple[OutboxEvent, Outcome]],
        logged: tuple[list[OutboxEvent], Outcome] | None = None,
    ) -> None:
        with transaction(self.sessions) as session:
            row = repo.subscriber(session, sub.id, for_update=True)
            if row is None:
                return
            if logged is not None:
                session.add(self._log_row(sub, *logged))
            row.cursor = max(row.cursor, cursor)
            row.delivered_total += acked
            row.attempts, row.failing_since, row.next_at, row.last_error = 0, None, None, None
            for e, out in dead:
                session.add(
                    EventDeadLetter(
                        subscriber_id=sub.id,
                        position=e.position or 0,
                        event_id=e.id,
                        reason=(out.error or "refused")[:500],
                        status=out.status,
                    )
                )
                log.warning("event dead-lettered", subscriber=sub.name, event_id=e.id, reason=out.error)
        sub.cursor = max(sub.cursor, cursor)
        if acked:
            m.DELIVERED.labels(sub.name).inc(acked)
        if dead:
            m.DEAD.labels(sub.name).inc(len(dead))

    def _failed(self, sub: EventSubscriber, events: list[OutboxEvent], out: Outcome) -> None:
        """The receiver is down, slow or busy: back off (exponential, full jitter); dead-letter past give-up."""
        now = utcnow()
        m.FAILURES.labels(
            sub.name, "timeout" if out.error and out.error.startswith("timeout") else "http" if out.status else "connection"
        ).inc()
        with transaction(self.sessions) as session:
            row = repo.subscriber(session, sub.id, for_update=True)
            if row is None:
                return
            row.attempts += 1
            row.failing_since = row.failing_since or now
            row.last_error = (out.error or "")[:500]
            delay = min(self.s.backoff_cap_s, self.s.backoff_base_s * 2 ** min(row.attempts - 1, 20))
            row.next_at = now + timedelta(seconds=random.uniform(delay / 2, delay))
            give_up = (now - row.failing_since).total_seconds() >= self.s.give_up_after_s
        if give_up:
            reason = Outcome(False, True, out.status, f"gave up after {self.s.give_up_after_s:.0f} s: {out.error}", out.ms)
            self._advance(sub, events[-1].position or 0, acked=0, dead=[(e, reason) for e in events])

    def _log(self, sub: EventSubscriber, events: list[OutboxEvent], out: Outcome) -> None:
        with transaction(self.sessions) as session:
            session.add(self._log_row(sub, events, out))

    @staticmethod
    def _log_row(sub: EventSubscriber, events: list[OutboxEvent], out: Outcome) -> EventDeliveryLog:
        return EventDeliveryLog(
            subscriber_id=sub.id,
            first_position=events[0].position or 0,
            last_position=events[-1].position or 0,
            events=len(events),
            status=out.status,
            ms=round(out.ms, 2),
            error=out.error[:500] if out.error else None,
        )

    # ---- the loop -------------------------------------------------------------------------------

    def step(self) -> int:
        """One pass: lease, sequence, every subscriber once in parallel; returns events acknowledged."""
        if not self.hold_lease():
            return 0
        self.sequence_once()
        with self.sessions() as session:
            subs = list(repo.subscribers(session))
            if time.monotonic() - self._lag_at >= LAG_EVERY_S:  # a count per subscriber: not on every pass
                for sub in subs:
                    m.LAG.labels(sub.name).set(repo.lag(session, sub))
                self._lag_at = time.monotonic()
            replaying = repo.subscribers_replaying(session)
            for sub in subs:
                session.expunge(sub)
        done = sum(self.pool.map(lambda sub: self.deliver_once(sub.id, loaded=sub, replays_pending=sub.id in replaying), subs))
        if time.monotonic() - self._pruned > 3600:
            with transaction(self.sessions) as session:
                repo.prune_log(session, utcnow() - timedelta(days=self.s.log_days))
            self._pruned = time.monotonic()
        return done

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None] | None = None) -> None:
        """Until stop is set; rides out database and receiver outages."""
        while not stop.is_set():
            try:
                done = self.step()
            except Exception as exc:  # a database outage, a bug: log, wait, go on
                log.exception("delivery loop error")
                if on_error:
                    on_error(exc)
                stop.wait(1.0)
                continue
            if not done:
                stop.wait(self.s.poll_s)
        self.pool.shutdown(wait=True)
        for c in self.clients.values():
            c.close()
