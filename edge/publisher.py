"""Outbox -> Redis stream publisher with end-to-end confirmation.

A result leaves the outbox only when the API says it is stored (with its image). Until then it is
looked at again with backoff (30 s, 60 s, ... 32 min): re-sent only when its stream entry is gone
(Redis lost its data, or ingest trimmed it after a dead letter the API has not reported yet), so a
long ingest outage keeps one copy per result in Redis instead of one per re-send. Rows refused for
good (an image the store will not take, a missing spool file, a result ingest dead-lettered) are
parked with the reason; one bad row never holds up the others. The streams are trimmed by ingest,
never here: MAXLEN would drop results nobody has read yet.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
import structlog

from edge import metrics
from edge.api_client import ApiRefused, ApiUnauthorized, ApiUnavailable, EdgeApiClient
from edge.outbox import MAX_BACKOFF_STEPS, Outbox, OutboxRow
from services.contracts import results_stream
from services.contracts.signing import encode_body

log = structlog.get_logger("eltrace.edge.publisher")
STATUS_FILE = "publisher.json"


@dataclass
class PublisherState:
    """Written to publisher.json next to the outbox on every loop: what the health check reads."""

    at: float = 0.0
    last_send_ok_at: float | None = None
    last_confirm_ok_at: float | None = None
    last_error: str | None = None
    unauthorized: bool = False
    restarts: int = 0


class Publisher:
    """Sends due outbox rows, forgets confirmed ones, parks refused ones."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        redis_url: str,
        api: EdgeApiClient | None,
        device_id: str,
        key_id: str,
        signing_key: bytes,
        confirm: bool = True,
        resend_after_s: float = 30.0,
        batch: int = 500,
        check_queued: bool = True,
        backoff_steps: int = MAX_BACKOFF_STEPS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if confirm and api is None:
            raise ValueError("end-to-end confirmation needs the API client")
        self.outbox = outbox
        self.r = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=2)
        self.api = api
        self.stream = results_stream(device_id)
        self.key_id = key_id
        self.key = signing_key
        self.confirm = confirm
        self.resend_after_s = resend_after_s
        self.batch = batch
        self.check_queued = check_queued  # False + backoff_steps=0: the old policy (the outage benchmark's baseline)
        self.backoff_steps = backoff_steps
        self.clock = clock
        self.sent_total = 0
        self.resent_total = 0
        self.confirmed_total = 0
        self.parked_total = 0
        self.state = PublisherState()
        self.status_path = outbox.path.parent / STATUS_FILE
        # Rows a key refusal parked under an older key: this key may sign them (a rotation, a re-provisioned station).
        healed = outbox.unpark(refused_under_other_key=key_id)
        if healed:
            log.info("unparked_after_key_change", rows=healed, key_id=key_id)

    # ---- one pass --------------------------------------------------------------------------
    def publish_once(self) -> int:
        """Upload missing images, XADD due results; returns how many were sent."""
        if self.state.unauthorized and self.api is not None:
            self.api.whoami()  # still refused: raises, and nothing is sent under a key the server has revoked
            self.state.unauthorized = False
        now = self.clock()
        rows = self.outbox.due(limit=self.batch, resend_after_s=self.resend_after_s, now=now)
        if not rows:
            return 0
        rows = self._skip_still_queued(rows, now)
        ready = [row for row in rows if self._image_ready(row)]
        if not ready:
            return 0
        pipe = self.r.pipeline(transaction=False)
        for row in ready:
            fields: dict[Any, Any] = encode_body(row.body.encode(), key_id=self.key_id, key=self.key)
            pipe.xadd(self.stream, fields)
        replies = pipe.execute(raise_on_error=False)  # a connection error still raises: nothing is marked
        sent, sids, errors = [], [], []
        for row, reply in zip(ready, replies, strict=True):
            if isinstance(reply, Exception):  # e.g. OOM under maxmemory: the row stays due, the others go
                errors.append(str(reply))
                continue
            sent.append(row)
            sids.append(reply.decode() if isinstance(reply, bytes) else str(reply))
        ids = [row.result_id for row in sent]
        if self.confirm:
            self.outbox.mark_sent(ids, now, stream_ids=sids, resend_after_s=self.resend_after_s, max_steps=self.backoff_steps)
        else:
            # Fire-and-forget (negative control only): trusts Redis with the only copy.
            self.outbox.forget(ids)
        resent = sum(1 for row in sent if row.sent_at is not None)
        self.sent_total += len(ids)
        self.resent_total += resent
        metrics.SENT.inc(len(ids))
        metrics.RESENT.inc(resent)
        if ids:
            self.state.last_send_ok_at = now
        if errors:
            raise redis.ResponseError(f"Redis refused {len(errors)} of {len(ready)} results: {errors[0][:200]}")
        return len(ids)

    def _skip_still_queued(self, rows: list[OutboxRow], now: float) -> list[OutboxRow]:
        """Rows whose last entry is still in the stream are postponed, not sent again."""
        known = [row for row in rows if row.stream_id]
        if not known or not self.check_queued:
            return rows
        pipe = self.r.pipeline(transaction=False)
        for row in known:
            sid = row.stream_id or "0-0"
            pipe.xrange(self.stream, min=sid, max=sid, count=1)
        try:
            replies = pipe.execute()
        except redis.ResponseError as exc:  # an ACL without XRANGE: fall back to re-sending
            log.warning("queued_check_unavailable", error=str(exc)[:200])
            return rows
        queued = {row.result_id for row, reply in zip(known, replies, strict=True) if reply}
        if queued:
            self.outbox.postpone(queued, resend_after_s=self.resend_after_s, now=now)
        return [row for row in rows if row.result_id not in queued]

    def _image_ready(self, row: OutboxRow) -> bool:
        """Upload the row's image if the API lacks it; park the row if that can never succeed."""
        if not row.has_image or row.image_stored or self.api is None:
            return True
        path = self.outbox.spool_path(row.image_sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._park(row.result_id, f"spool image missing: {path.name} (the result cannot be confirmed without it)")
            return False
        try:
            self.api.upload_image(row.image_sha256, data, row.content_type or "application/octet-stream")
        except ApiRefused as exc:
            self._park(row.result_id, str(exc))
            return False
        except ApiUnavailable as exc:
            if isinstance(exc, ApiUnauthorized):
                raise
            log.warning("image_upload_deferred", result_id=row.result_id, error=str(exc)[:200])
            return False
        self.outbox.mark_image_stored(row.image_sha256)
        return True

    def _park(self, result_id: str, reason: str) -> None:
        self.outbox.park(result_id, reason, key_id=self.key_id, now=self.clock())
        self.parked_total += 1
        metrics.PARKED.inc()
        log.error("result_parked", result_id=result_id, reason=reason[:300])

    def confirm_once(self) -> int:
        """Ask the API about sent results: forget the stored, park the refused, re-upload lost images."""
        if not self.confirm or self.api is None:
            return 0
        ids = self.outbox.sent_unconfirmed(limit=5000)
        if not ids:
            return 0
        answer = self.api.confirm(ids)
        n = self.outbox.forget(sorted(answer.stored))
        sent_as = self.outbox.stream_ids([r[0] for r in answer.refused])
        for rid, sid, kid, reason in answer.refused:
            if sent_as.get(rid) != sid:
                continue  # an older copy was refused; the entry we sent last is still on its way
            if kid is not None and kid != self.key_id:
                self.outbox.resend_now([rid])  # signed with a key we no longer use (revoked, rotated): re-sign it
            else:
                self._park(rid, reason if reason.startswith("signature:") else f"refused by ingest: {reason}")
        for sha in answer.reupload:
            log.warning("image_lost_by_the_store_reuploading", sha256=sha)
            self.outbox.mark_image_stored(sha, stored=False)
        self.confirmed_total += n
        self.state.last_confirm_ok_at = self.clock()
        metrics.CONFIRMED.inc(n)
        metrics.OUTBOX.set(self.outbox.count())
        return n

    # ---- the loop --------------------------------------------------------------------------
    def write_state(self, error: str | None = None) -> None:
        """Refresh publisher.json (atomically): the heartbeat and progress the health check reads."""
        self.state.at = self.clock()
        self.state.last_error = error
        tmp = self.status_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(asdict(self.state)))
            os.replace(tmp, self.status_path)
        except OSError:  # a full disk: the stale file makes the health check fail, which is right
            tmp.unlink(missing_ok=True)

    def run(self, stop: threading.Event, *, interval_s: float = 0.2, confirm_every_s: float = 1.0) -> None:
        """Publish and confirm until stopped; no error ends the loop (it backs off and says so)."""
        last_confirm = last_state = 0.0
        backoff = interval_s
        while not stop.is_set():
            try:
                sent = self.publish_once()
                if time.monotonic() - last_confirm >= confirm_every_s:
                    self.confirm_once()
                    last_confirm = time.monotonic()
                self.state.unauthorized = False
                if time.monotonic() - last_state >= 1.0:  # a heartbeat a second is plenty (the check allows 60 s)
                    self.write_state()
                    last_state = time.monotonic()
                backoff = interval_s
                if sent == 0:
                    stop.wait(interval_s)
                continue
            except ApiUnauthorized as exc:
                self.state.unauthorized = True
                error = str(exc)
                log.error("device_key_refused", error=error[:200], retry_in_s=backoff)
            except (redis.RedisError, ApiUnavailable, OSError) as exc:
                error = str(exc)
                log.warning("publish_retry", error=error[:200], retry_in_s=backoff)
            except Exception as exc:  # noqa: BLE001 - a bug must not end publishing silently
                error = f"{type(exc).__name__}: {exc}"
                log.exception("publish_failed", error=error[:200], retry_in_s=backoff)
            self.write_state(error[:300])
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)


def supervise(
    target: Callable[[threading.Event], None], stop: threading.Event, *, name: str, on_restart: Callable[[], None]
) -> threading.Thread:
    """Run `target(stop)` in a thread that is restarted whenever it ends before `stop` is set."""

    def loop() -> None:
        while not stop.is_set():
            try:
                target(stop)
            except BaseException as exc:  # noqa: BLE001 - restart on anything; the health check shows restarts
                log.exception("thread_died_restarting", thread=name, error=str(exc)[:200])
            if not stop.is_set():
                on_restart()
                stop.wait(1.0)

    t = threading.Thread(target=loop, name=name, daemon=True)
    t.start()
    return t


def read_state(outbox_path: Path) -> PublisherState | None:
    """The last publisher.json written next to this outbox, if any."""
    try:
        return PublisherState(**json.loads((outbox_path.parent / STATUS_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


__all__ = ["MAX_BACKOFF_STEPS", "Publisher", "PublisherState", "read_state", "supervise"]
