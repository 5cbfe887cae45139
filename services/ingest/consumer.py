"""Redis Streams -> database ingest: at-least-once delivery, exactly-once rows.

Per batch: verify + parse, insert with ON CONFLICT DO NOTHING, commit, then XACK. Invalid or
repeatedly failing messages go to the dead-letter stream with the reason, then XACK.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.contracts import ResultEnvelope, SignatureError, decode_message
from services.contracts.signing import DEAD_LETTER_STREAM, STREAM_PREFIX
from services.core.db import transaction
from services.core.logging import get_logger
from services.core.settings import IngestSettings
from services.devices import service as devices
from services.ingest import metrics
from services.ingest.store import store_batch

log = get_logger("eltrace.ingest")

Entry = tuple[str, str, dict[str, str]]  # (stream, message id, fields)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; nothing may be acknowledged."""


@dataclass
class IngestStats:
    """Counters since start (also exported for tests and the demo)."""

    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    db_outages: int = 0
    redis_outages: int = 0
    dead_reasons: list[str] = field(default_factory=list)


def _is_connection_error(exc: BaseException) -> bool:
    """A driver-level (PEP 249) OperationalError / InterfaceError: the database is away, not the row bad."""
    return any(c.__name__ in ("OperationalError", "InterfaceError") for c in type(exc).__mro__)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errs = exc.errors()[:3]
        return "invalid envelope: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errs)
    if isinstance(exc, SignatureError):
        return f"signature: {exc}"
    return str(exc)[:300]


class IngestConsumer:
    """One member of the `ingest` consumer group over every device stream."""

    def __init__(
        self,
        *,
        redis_url: str,
        session_factory: sessionmaker[Session],
        master_secret: bytes,
        settings: IngestSettings,
        after_commit: Callable[[list[Entry]], None] | None = None,
    ) -> None:
        self.r = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=2)
        self.sessions = session_factory
        self.secret = master_secret
        self.s = settings
        self.name = settings.consumer_name
        self.group = settings.group
        self.after_commit = after_commit  # fault-injection point for tests
        self.stats = IngestStats()
        self.streams: list[str] = []
        self._keys: dict[tuple[str, str], bytes] = {}
        self._devices: dict[str, tuple[int, str]] = {}
        self._keys_loaded_at = 0.0
        self._keys_loaded_redis_ms = -1  # the Redis clock when the directory was read (stream ids use it)
        self._entry_ms = 0  # the stream id time of the message being verified
        self._discovered_at = 0.0
        self._claimed_at = 0.0
        self._pending_first = True

    # ---- directory of devices and keys -------------------------------------------------
    def _refresh_directory(self) -> None:
        seconds, micros = self.r.time()  # before the read: a key committed after this instant is re-read next time
        try:
            with transaction(self.sessions) as session:
                self._keys = devices.active_signing_keys(session=session, master_secret=self.secret)
                self._devices = devices.device_ids_by_code(session=session)
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        self._keys_loaded_at = time.monotonic()
        self._keys_loaded_redis_ms = int(seconds) * 1000 + int(micros) // 1000

    def _key_lookup(self, device: str, key_id: str) -> bytes | None:
        key = self._keys.get((device, key_id))
        # A device provisioned or a key rotated since we last looked: re-read the directory when it is
        # older than the message (same clock: Redis's), or older than a second. Without the first rule
        # a message added right after a refresh was dead-lettered for a key the database already had.
        stale = self._keys_loaded_redis_ms <= self._entry_ms or time.monotonic() - self._keys_loaded_at > 1.0
        if key is None and stale:
            self._refresh_directory()
            key = self._keys.get((device, key_id))
        return key

    # ---- streams and group ---------------------------------------------------------------
    def _discover(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._discovered_at < self.s.discover_every_s:
            return
        found = sorted(self.r.scan_iter(match=f"{STREAM_PREFIX}*", _type="STREAM", count=1000))
        for stream in found:
            self._ensure_group(stream)
        if found != self.streams:
            self._pending_first = True
        self.streams = found
        self._discovered_at = time.monotonic()

    def _ensure_group(self, stream: str) -> None:
        try:
            self.r.xgroup_create(stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # ---- reading -------------------------------------------------------------------------
    def _read(self, start: str, block: int | None) -> list[Entry]:
        if not self.streams:
            return []
        resp = self.r.xreadgroup(self.group, self.name, {s: start for s in self.streams}, count=self.s.batch_size, block=block)
        out: list[Entry] = []
        for stream, messages in resp or []:
            for msg_id, fields in messages:
                out.append((stream, msg_id, fields or {}))
        return out

    def _autoclaim(self) -> list[Entry]:
        if time.monotonic() - self._claimed_at < max(self.s.claim_idle_ms / 4000, 0.05):
            return []
        self._claimed_at = time.monotonic()
        out: list[Entry] = []
        for stream in self.streams:
            resp = self.r.xautoclaim(stream, self.group, self.name, self.s.claim_idle_ms, "0-0", count=self.s.batch_size)
            for msg_id, fields in resp[1]:
                out.append((stream, msg_id, fields or {}))
            # Entries deleted from the stream while pending come back as ids only: acknowledge them.
            if len(resp) > 2 and resp[2]:
                self.r.xack(stream, self.group, *resp[2])
        return out

    def _next_batch(self, block_ms: int) -> list[Entry]:
        self._discover()
        if self._pending_first:
            entries = self._read("0", None)
            if entries:
                return entries
            self._pending_first = False
        claimed = self._autoclaim()
        if claimed:
            return claimed
        return self._read(">", block_ms)

    # ---- processing ----------------------------------------------------------------------
    def _delivery_counts(self, stream: str, ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for mid in ids:
            info = self.r.xpending_range(stream, self.group, min=mid, max=mid, count=1)
            counts[mid] = int(info[0]["times_delivered"]) if info else 0
        return counts

    def process(self, entries: list[Entry]) -> None:
        """Store a batch; acknowledge only what is committed or dead-lettered."""
        valid: list[tuple[Entry, ResultEnvelope, int]] = []
        dead: list[tuple[Entry, str]] = []
        empty: list[Entry] = []
        for entry in entries:
            stream, _mid, fields = entry
            if not fields:
                empty.append(entry)
                continue
            device = stream[len(STREAM_PREFIX) :]
            self._entry_ms = int(_mid.split("-", 1)[0]) if _mid[:1].isdigit() else 0
            try:
                msg = decode_message(fields, stream_device=device, key_lookup=self._key_lookup)
            except (ValueError, ValidationError) as exc:
                dead.append((entry, _describe(exc)))
                continue
            if device not in self._devices:
                self._refresh_directory()
            if device not in self._devices:
                dead.append((entry, f"unknown device {device!r}"))
                continue
            valid.append((entry, msg.envelope, self._devices[device][0]))

        committed: list[Entry] = []
        if valid:
            try:
                committed = self._store([(env, did) for _, env, did in valid], [e for e, _, _ in valid])
            except DatabaseUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - a row the database refuses: isolate it
                log.warning("batch_failed_isolating", error=str(exc)[:200], size=len(valid))
                committed, failed = self._store_one_by_one(valid)
                dead.extend(failed)
        if self.after_commit and committed:
            self.after_commit(committed)
        self._dead_letter(dead)
        self._ack(committed + [e for e, _ in dead] + empty)

    def _store(self, items: list[tuple[ResultEnvelope, int]], entries: list[Entry]) -> list[Entry]:
        try:
            with metrics.BATCH_SECONDS.time(), transaction(self.sessions) as session:
                new = store_batch(session=session, items=items, loop_limit=self.s.rework_loop_limit)
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable(str(exc)) from exc
            raise
        except Exception as exc:
            # The PostgreSQL COPY path talks to the driver directly: its PEP 249 errors arrive unwrapped.
            if _is_connection_error(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise
        self.stats.inserted += len(new)
        self.stats.duplicates += len(items) - len(new)
        self.stats.batches += 1
        metrics.INGESTED.inc(len(new))
        metrics.DUPLICATES.inc(len(items) - len(new))
        metrics.LAST_BATCH.set_to_current_time()
        return entries

    def _store_one_by_one(self, valid: list[tuple[Entry, ResultEnvelope, int]]) -> tuple[list[Entry], list[tuple[Entry, str]]]:
        ok: list[Entry] = []
        failed: list[tuple[Entry, str]] = []
        for entry, env, did in valid:
            try:
                ok += self._store([(env, did)], [entry])
            except DatabaseUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001
                stream, mid, _ = entry
                if self._delivery_counts(stream, [mid]).get(mid, 0) >= self.s.max_deliveries:
                    failed.append((entry, f"database refused it {self.s.max_deliveries} times: {str(exc)[:200]}"))
                # else: left pending; it comes back and is tried again
        return ok, failed

    def _dead_letter(self, dead: list[tuple[Entry, str]]) -> None:
        if not dead:
            return
        pipe = self.r.pipeline(transaction=False)
        for (stream, mid, fields), reason in dead:
            record = {"stream": stream, "id": mid, "reason": reason, "consumer": self.name}
            record.update({f"f_{k}": v[:100_000] for k, v in fields.items()})
            pipe.xadd(DEAD_LETTER_STREAM, record)
            log.warning("dead_lettered", stream=stream, id=mid, reason=reason)
        pipe.execute()
        for _entry, reason in dead:
            metrics.DEAD_LETTERED.labels(reason=metrics.reason_kind(reason)).inc()
        self.stats.dead_lettered += len(dead)
        self.stats.dead_reasons.extend(r for _, r in dead)

    def _ack(self, entries: list[Entry]) -> None:
        by_stream: dict[str, list[str]] = {}
        for stream, mid, _ in entries:
            by_stream.setdefault(stream, []).append(mid)
        if by_stream:
            pipe = self.r.pipeline(transaction=False)
            for stream, ids in by_stream.items():
                pipe.xack(stream, self.group, *ids)
            pipe.execute()

    # ---- the loop ------------------------------------------------------------------------
    def step(self, block_ms: int | None = None) -> int:
        """Read and process one batch; returns how many messages it handled."""
        try:
            entries = self._next_batch(self.s.block_ms if block_ms is None else block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                # Redis restarted without our group (lost data): recreate and re-read.
                log.warning("group_missing_recreating")
                self._discover(force=True)
                self._pending_first = True
                return 0
            raise
        if entries:
            self.process(entries)
        return len(entries)

    def run(self, stop: threading.Event) -> None:
        """Process until `stop` is set; rides out Redis and database outages."""
        backoff = 0.1
        log.info("ingest_started", consumer=self.name, group=self.group)
        while not stop.is_set():
            if self.s.heartbeat_path is not None:
                self.s.heartbeat_path.touch()
            try:
                self.step()
                backoff = 0.1
            except DatabaseUnavailable as exc:
                self.stats.db_outages += 1
                metrics.OUTAGES.labels(dependency="database").inc()
                self._pending_first = True  # what we read stays pending; read it again
                log.warning("database_unavailable", error=str(exc)[:200], retry_in_s=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                self.stats.redis_outages += 1
                metrics.OUTAGES.labels(dependency="redis").inc()
                self._pending_first = True
                self._discovered_at = 0.0
                log.warning("redis_unavailable", error=str(exc)[:200], retry_in_s=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        log.info("ingest_stopped", consumer=self.name, **{k: v for k, v in vars(self.stats).items() if k != "dead_reasons"})
