"""Outbox -> Redis stream publisher with end-to-end confirmation.

A result leaves the outbox only when the API says it is stored (with its image). Until then it
is re-sent every `resend_after_s`, which heals even a Redis that lost its data. Streams are
never trimmed here: MAXLEN would drop results nobody has read yet.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
import structlog

from edge import metrics
from edge.api_client import ApiUnavailable, EdgeApiClient
from edge.outbox import Outbox
from services.contracts import results_stream
from services.contracts.signing import encode_body

log = structlog.get_logger("eltrace.edge.publisher")


class Publisher:
    """Sends due outbox rows and forgets confirmed ones."""

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
        self.sent_total = 0
        self.confirmed_total = 0

    def publish_once(self) -> int:
        """Upload missing images, XADD due results; returns how many were sent."""
        rows = self.outbox.due(limit=self.batch, resend_after_s=self.resend_after_s)
        if not rows:
            return 0
        ready = []
        for row in rows:
            if row.has_image and not row.image_stored and self.api is not None:
                path = self.outbox.spool_path(row.image_sha256)
                try:
                    self.api.upload_image(row.image_sha256, path.read_bytes(), row.content_type or "application/octet-stream")
                except ApiUnavailable as exc:
                    log.warning("image_upload_deferred", result_id=row.result_id, error=str(exc)[:200])
                    continue
                self.outbox.mark_image_stored(row.image_sha256)
            ready.append(row)
        if not ready:
            return 0
        pipe = self.r.pipeline(transaction=False)
        for row in ready:
            fields: dict[Any, Any] = encode_body(
                row.body.encode(), key_id=self.key_id, key=self.key
            )  # redis-py wants its own key type
            pipe.xadd(self.stream, fields)
        pipe.execute()  # raises on a Redis error: nothing is marked, all is re-sent
        ids = [row.result_id for row in ready]
        if self.confirm:
            self.outbox.mark_sent(ids)
        else:
            # Fire-and-forget (negative control only): trusts Redis with the only copy.
            self.outbox.forget(ids)
        self.sent_total += len(ids)
        metrics.SENT.inc(len(ids))
        return len(ids)

    def confirm_once(self) -> int:
        """Ask the API which sent results are stored and forget those."""
        if not self.confirm or self.api is None:
            return 0
        ids = self.outbox.sent_unconfirmed(limit=5000)
        if not ids:
            return 0
        stored = self.api.confirmed(ids)
        n = self.outbox.forget(sorted(stored))
        self.confirmed_total += n
        metrics.CONFIRMED.inc(n)
        metrics.OUTBOX.set(self.outbox.count())
        return n

    def run(self, stop: threading.Event, *, interval_s: float = 0.2, confirm_every_s: float = 1.0) -> None:
        """Publish and confirm until stopped, riding out Redis and API outages."""
        import time

        last_confirm = 0.0
        backoff = interval_s
        while not stop.is_set():
            try:
                sent = self.publish_once()
                if time.monotonic() - last_confirm >= confirm_every_s:
                    self.confirm_once()
                    last_confirm = time.monotonic()
                backoff = interval_s
                if sent == 0:
                    stop.wait(interval_s)
            except (redis.RedisError, ApiUnavailable, OSError) as exc:
                log.warning("publish_retry", error=str(exc)[:200], retry_in_s=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
