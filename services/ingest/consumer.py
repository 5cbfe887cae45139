"""Redis Streams -> database ingest: at-least-once delivery, exactly-once rows.

Per batch: decode + verify + parse each message on its own, insert with ON CONFLICT DO NOTHING,
commit, then XACK. A message that can never be stored (not UTF-8, bad signature, invalid) goes to the
dead-letter stream at once; one that fails for a reason that may pass (the database refused it, an
unexpected error) is retried until its delivery limit, then dead-lettered. Either way the reason is
also recorded for the device's edge, which parks the row instead of re-sending it forever. No single
message, and no Redis or database error, ends the process. Acknowledged entries are trimmed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.contracts import ResultEnvelope, SignatureError, decode_fields, decode_message
from services.contracts.signing import DEAD_LETTER_STREAM, STREAM_PREFIX
from services.core.db import transaction
from services.core.logging import get_logger
from services.core.settings import IngestSettings
from services.core.time import plausible
from services.devices import service as devices
from services.ingest import metrics
from services.ingest.store import differing_duplicates, store_batch
from services.inspection.repository import record_refusals

log = get_logger("eltrace.ingest")

RawFields = dict[bytes, bytes]
Entry = tuple[str, str, RawFields]  # (stream, message id, fields as Redis holds them: bytes)
_TRANSIENT_REDIS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; nothing may be acknowledged."""


@dataclass
class IngestStats:
    """Counters since start (also exported for tests and the demo)."""

    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0
    trimmed: int = 0
    batches: int = 0
    db_outages: int = 0
    redis_outages: int = 0
    loop_errors: int = 0
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
        # Bytes, not decode_responses: a field that is not UTF-8 must reach process() (and the dead-letter
        # stream) instead of raising inside the read, before any message is isolated.
        self.r = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=2)
        self.sessions = session_factory
        self.secret = master_secret
        self.s = settings
        self.name = settings.resolved_consumer_name
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
        self._claim_cursor: dict[str, str] = {}
        self._trimmed_at = 0.0
        # Our own pending entries are read once after a start or an outage, page by page (a cursor per
        # stream), never again in a loop: an entry left pending comes back through XAUTOCLAIM after
        # claim_idle_ms, so a failing message cannot burn its delivery limit in milliseconds.
        self._pending_first = True
        self._pel_next: dict[str, str] | None = None
        self._conflicts: dict[int, str] = {}  # id(entry) -> why, of copies that differ from what is stored

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
        found = sorted(_text(k) for k in self.r.scan_iter(match=f"{STREAM_PREFIX}*", _type="STREAM", count=1000))
        for stream in found:
            self._ensure_group(stream)
        self.streams = found
        self._discovered_at = time.monotonic()

    def _ensure_group(self, stream: str) -> None:
        try:
            self.r.xgroup_create(stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # ---- reading -------------------------------------------------------------------------
    def _read(self, starts: dict[str, str], block: int | None) -> list[Entry]:
        if not starts:
            return []
        resp = self.r.xreadgroup(self.group, self.name, starts, count=self.s.batch_size, block=block)  # type: ignore[arg-type]
        out: list[Entry] = []
        for stream, messages in resp or []:
            for msg_id, fields in messages:
                out.append((_text(stream), _text(msg_id), fields or {}))
        return out

    def _read_own_pending(self) -> list[Entry]:
        """One page of this consumer's pending entries; the cursor moves past them, so each is read once."""
        if self._pel_next is None:
            return []
        entries = self._read(dict(self._pel_next), None)
        seen: dict[str, str] = {}
        for stream, mid, _ in entries:
            seen[stream] = mid  # ascending per stream: the last one is the cursor
        self._pel_next = {st: seen[st] for st in self._pel_next if st in seen}
        if not self._pel_next:
            self._pel_next = None
        return entries

    def _autoclaim(self) -> list[Entry]:
        """Entries idle for claim_idle_ms under any consumer (a dead one, or ours left for a retry)."""
        mid_scan = any(c != "0-0" for c in self._claim_cursor.values())
        if not mid_scan and time.monotonic() - self._claimed_at < max(self.s.claim_idle_ms / 4000, 0.05):
            return []
        self._claimed_at = time.monotonic()
        out: list[Entry] = []
        for stream in self.streams:
            room = self.s.batch_size - len(out)
            if room <= 0:
                break
            start = self._claim_cursor.get(stream, "0-0")
            resp = self.r.xautoclaim(stream, self.group, self.name, self.s.claim_idle_ms, start, count=room)
            # The cursor is followed across calls: a PEL longer than one page is claimed page by page.
            self._claim_cursor[stream] = _text(resp[0])
            for msg_id, fields in resp[1]:
                out.append((stream, _text(msg_id), fields or {}))
            # Entries deleted from the stream while pending come back as ids only: acknowledge them.
            if len(resp) > 2 and resp[2]:
                self.r.xack(stream, self.group, *resp[2])
        return out

    def _next_batch(self, block_ms: int) -> list[Entry]:
        self._discover()
        if self._pending_first:
            self._pending_first = False
            self._pel_next = {st: "0" for st in self.streams} or None
        entries = self._read_own_pending()
        if entries:
            return entries
        claimed = self._autoclaim()
        if claimed:
            return claimed
        return self._read({st: ">" for st in self.streams}, block_ms)

    # ---- housekeeping --------------------------------------------------------------------
    def housekeep(self, force: bool = False) -> int:
        """Trim entries every group has acknowledged; drop long-idle consumers with nothing pending."""
        if not force and time.monotonic() - self._trimmed_at < self.s.trim_every_s:
            return 0
        self._trimmed_at = time.monotonic()
        trimmed = 0
        for stream in self.streams:
            floor: tuple[int, int] | None = None
            for g in self.r.xinfo_groups(stream):
                info = {_text(k): v for k, v in g.items()}
                if int(info["pending"]):
                    lowest = _id(_text(self.r.xpending(stream, _text(info["name"]))["min"]))
                else:
                    ms, seq = _id(_text(info["last-delivered-id"]))
                    lowest = (ms, seq + 1)
                floor = lowest if floor is None else min(floor, lowest)
            if floor is not None and floor > (0, 0):
                # Everything below the oldest pending entry (or past the last delivered one) is acknowledged
                # by every group: stored or dead-lettered. Unread or pending entries are never trimmed.
                trimmed += int(self.r.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False))
            for c in self.r.xinfo_consumers(stream, self.group):
                info = {_text(k): v for k, v in c.items()}
                name = _text(info["name"])
                if name != self.name and not int(info["pending"]) and int(info["idle"]) > self.s.consumer_idle_drop_s * 1000:
                    self.r.xgroup_delconsumer(stream, self.group, name)
        if trimmed:
            self.stats.trimmed += trimmed
            metrics.TRIMMED.inc(trimmed)
        return trimmed

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
        retry: list[tuple[Entry, str]] = []
        empty: list[Entry] = []
        for entry in entries:
            if not entry[2]:
                empty.append(entry)
                continue
            try:
                valid.append(self._verify(entry))
            except (DatabaseUnavailable, *_TRANSIENT_REDIS):
                raise
            except (ValueError, ValidationError) as exc:  # never storable: dead-letter now
                dead.append((entry, _describe(exc)))
            except Exception as exc:  # noqa: BLE001 - a bug or an odd message: retry, then dead-letter
                retry.append((entry, f"unexpected error: {type(exc).__name__}: {str(exc)[:200]}"))

        committed: list[Entry] = []
        if valid:
            try:
                committed = self._store([(env, did) for _, env, did in valid], [e for e, _, _ in valid])
            except DatabaseUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - a row the database refuses: isolate it
                log.warning("batch_failed_isolating", error=str(exc)[:200], size=len(valid))
                committed, failed = self._store_one_by_one(valid)
                retry.extend(failed)
        if self._conflicts:
            clash = [e for e in committed if id(e) in self._conflicts]
            dead.extend((e, self._conflicts[id(e)]) for e in clash)
            committed = [e for e in committed if id(e) not in self._conflicts]
            self._conflicts.clear()
            for e in clash:
                log.error("result_id_conflict", stream=e[0], id=e[1])
        if self.after_commit and committed:
            self.after_commit(committed)
        dead.extend(self._over_the_limit(retry))
        self._dead_letter(dead)
        self._ack(committed + [e for e, _ in dead] + empty)

    def _verify(self, entry: Entry) -> tuple[Entry, ResultEnvelope, int]:
        stream, mid, raw = entry
        device = stream[len(STREAM_PREFIX) :]
        self._entry_ms = int(mid.split("-", 1)[0]) if mid[:1].isdigit() else 0
        fields = decode_fields(raw)
        msg = decode_message(fields, stream_device=device, key_lookup=self._key_lookup)
        if device not in self._devices:
            self._refresh_directory()
        if device not in self._devices:
            raise ValueError(f"unknown device {device!r}")
        device_row, station = self._devices[device]
        plausible(msg.envelope.captured_at, what="capture time")  # a station clock in 1970 or next year: refused
        if msg.envelope.station_id != station:
            # A device is registered at one station (and so one line): a result claiming another would show
            # to that line's operators and vanish from its own.
            raise ValueError(
                f"station mismatch: device {device!r} is registered at {station!r}, the result claims {msg.envelope.station_id[:40]!r}"
            )
        return entry, msg.envelope, device_row

    def _over_the_limit(self, failed: list[tuple[Entry, str]]) -> list[tuple[Entry, str]]:
        """Those failed messages that used up their deliveries; the rest stay pending and come back."""
        out = []
        for entry, reason in failed:
            stream, mid, _ = entry
            times = self._delivery_counts(stream, [mid]).get(mid, 0)
            if times >= self.s.max_deliveries:
                out.append((entry, f"{reason} (failed {times} deliveries)"))
            else:
                self.stats.retried += 1
                log.warning("left_pending_for_retry", stream=stream, id=mid, deliveries=times, reason=reason[:200])
        return out

    def _store(self, items: list[tuple[ResultEnvelope, int]], entries: list[Entry]) -> list[Entry]:
        try:
            with metrics.BATCH_SECONDS.time(), transaction(self.sessions) as session:
                new = store_batch(
                    session=session, items=items, loop_limit=self.s.rework_loop_limit, plant_timezone=self.s.plant_timezone
                )
                # Every copy is compared with what is stored now (an older row, or the batch's first copy).
                if len(new) < len(items):
                    clash = differing_duplicates(session=session, envelopes=[env for env, _ in items])
                    self._conflicts.update({id(entries[pos]): why for pos, why in clash.items()})
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
                failed.append((entry, f"database refused it: {str(exc)[:200]}"))
        return ok, failed

    def _dead_letter(self, dead: list[tuple[Entry, str]]) -> None:
        """Record the refusals for the edges (database), then copy each message whole to the dead-letter stream.

        A crash between the two steps and the XACK repeats them on redelivery: a refusal or a copy may be
        doubled, a message is never lost. Copies keep the original bytes (replayable as they came).
        """
        if not dead:
            return
        self._record_refusals(dead)
        pipe = self.r.pipeline(transaction=False)
        for (stream, mid, fields), reason in dead:
            record: dict[bytes, bytes] = {
                b"stream": stream.encode(),
                b"id": mid.encode(),
                b"reason": reason.encode(),
                b"consumer": self.name.encode(),
            }
            record.update(_kept_fields(fields))
            pipe.xadd(DEAD_LETTER_STREAM, record)  # type: ignore[arg-type]
            log.warning("dead_lettered", stream=stream, id=mid, reason=reason)
        pipe.execute()
        for _entry, reason in dead:
            metrics.DEAD_LETTERED.labels(reason=metrics.reason_kind(reason)).inc()
        self.stats.dead_lettered += len(dead)
        self.stats.dead_reasons.extend(r for _, r in dead)

    def _record_refusals(self, dead: list[tuple[Entry, str]]) -> None:
        rows = []
        for (stream, mid, fields), reason in dead:
            device = self._devices.get(stream[len(STREAM_PREFIX) :])
            result_id = _claimed_result_id(fields)
            if device is not None and result_id is not None:
                kid = fields.get(b"kid", b"").decode(errors="replace")[:64] or None
                rows.append(
                    {"device_id": device[0], "result_id": result_id, "stream_id": mid, "key_id": kid, "reason": reason[:500]}
                )
        if not rows:
            return
        try:
            with transaction(self.sessions) as session:
                record_refusals(session, rows)
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise DatabaseUnavailable(str(exc)) from exc
            log.error("refusals_not_recorded", error=str(exc)[:200])

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
            if entries:
                self.process(entries)
            self.housekeep()
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                # Redis restarted without our group (lost data): recreate and re-read.
                log.warning("group_missing_recreating")
                self._discover(force=True)
                self._pending_first = True
                return 0
            raise
        return len(entries)

    def run(self, stop: threading.Event) -> None:
        """Process until `stop` is set; rides out Redis and database outages and any one bad step."""
        backoff = 0.1
        log.info("ingest_started", consumer=self.name, group=self.group)
        while not stop.is_set():
            if self.s.heartbeat_path is not None:
                self.s.heartbeat_path.touch()
            try:
                self.step()
                backoff = 0.1
                continue
            except DatabaseUnavailable as exc:
                self.stats.db_outages += 1
                metrics.OUTAGES.labels(dependency="database").inc()
                log.warning("database_unavailable", error=str(exc)[:200], retry_in_s=backoff)
            except _TRANSIENT_REDIS as exc:
                self.stats.redis_outages += 1
                metrics.OUTAGES.labels(dependency="redis").inc()
                self._discovered_at = 0.0
                log.warning("redis_unavailable", error=str(exc)[:200], retry_in_s=backoff)
            except Exception as exc:  # noqa: BLE001 - e.g. a ResponseError (OOM, ACL): never end the process
                self.stats.loop_errors += 1
                metrics.ERRORS.labels(kind=type(exc).__name__[:40]).inc()
                log.exception("ingest_step_failed", error=str(exc)[:200], retry_in_s=backoff)
            self._pending_first = True  # what we read stays pending; read it again
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)
        log.info("ingest_stopped", consumer=self.name, **{k: v for k, v in vars(self.stats).items() if k != "dead_reasons"})


_CONTRACT_FIELDS = (b"v", b"kid", b"sig", b"body")
_EXTRA_FIELDS_KEPT = 8


def _kept_fields(fields: RawFields) -> dict[bytes, bytes]:
    """The message's fields for its dead-letter copy: the contract's four whole, at most 8 others (a message
    with 20,000 fields must not make a copy as large), and how many were left out."""
    kept = {b"f_" + k: fields[k] for k in _CONTRACT_FIELDS if k in fields}
    others = [k for k in fields if k not in _CONTRACT_FIELDS]
    kept.update({b"f_" + k[:64]: fields[k][:1024] for k in others[:_EXTRA_FIELDS_KEPT]})
    if len(others) > _EXTRA_FIELDS_KEPT:
        kept[b"fields_dropped"] = str(len(others) - _EXTRA_FIELDS_KEPT).encode()
    return kept


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _claimed_result_id(fields: RawFields) -> str | None:
    """The result_id a message's body claims (unverified: only used to tell its own device's edge)."""
    try:
        rid = json.loads(fields.get(b"body", b""))["result_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return rid[:64] if isinstance(rid, str) and rid else None
