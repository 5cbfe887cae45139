"""Local durable outbox (SQLite WAL, synchronous=FULL): a result lives here until the API confirms it.

A row is *waiting* (never sent), *in flight* (sent, not yet confirmed; checked again with backoff), or
*parked* (refused for good: its reason is shown by `eltrace edge status`, it blocks nothing, and it is
never retried on its own). Image bytes wait in a spool directory next to the database.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.contracts import ResultEnvelope, canonical_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
  result_id TEXT PRIMARY KEY,
  created_at REAL NOT NULL,
  body TEXT NOT NULL,
  image_sha256 TEXT NOT NULL,
  content_type TEXT,
  has_image INTEGER NOT NULL,
  image_stored INTEGER NOT NULL DEFAULT 0,
  sent_at REAL,
  send_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_outbox_sent ON outbox(sent_at);
"""
# Columns added after the first release: an outbox written by an older edge is upgraded in place.
_ADDED_COLUMNS = {
    "attempts": "INTEGER NOT NULL DEFAULT 0",  # sends + checks that found the entry still queued (backoff)
    "next_at": "REAL",  # when to look at an in-flight row again
    "stream_id": "TEXT",  # the Redis entry of the last send (re-send only when it is gone)
    "parked_at": "REAL",
    "parked_reason": "TEXT",
    "parked_key": "TEXT",  # the signing key id in use when it was parked (a key refusal heals on a new key)
}
MAX_BACKOFF_STEPS = 6  # resend_after_s x 2^6: 30 s grows to 32 min between looks at one in-flight row


class DiskFull(OSError):
    """The outbox's disk is full: nothing new can be accepted until space is freed."""


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


@dataclass(frozen=True)
class OutboxRow:
    """One result waiting to be sent or confirmed."""

    result_id: str
    body: str
    image_sha256: str
    content_type: str | None
    has_image: bool
    image_stored: bool
    sent_at: float | None
    stream_id: str | None = None


@dataclass
class OutboxStatus:
    """What `eltrace edge status` and the health check read."""

    waiting: int = 0
    in_flight: int = 0
    parked: int = 0
    oldest_unconfirmed_s: float | None = None
    spool_bytes: int = 0
    parked_reasons: dict[str, int] = field(default_factory=dict)


class Outbox:
    """Durable queue of results; image bytes sit in a spool directory next to it."""

    def __init__(self, path: Path, *, sweep: bool = True) -> None:
        """Open (or create, or upgrade) the outbox; `sweep` once at the worker's start, never from a second process."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.spool = self.path.parent / (self.path.stem + "-spool")
        self.spool.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a result the worker has accepted survives a power cut, not only a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        have = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
        for name, decl in _ADDED_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {decl}")
        self._db.execute("CREATE INDEX IF NOT EXISTS ix_outbox_due ON outbox(parked_at, next_at)")
        self.swept = self.sweep() if sweep else 0

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def spool_path(self, sha256: str) -> Path:
        """Where the bytes of an image wait for upload."""
        return self.spool / sha256

    def sweep(self) -> int:
        """Remove temp files of interrupted writes and spool images no row needs (a kill between steps)."""
        with self._lock:
            wanted = {r[0] for r in self._db.execute("SELECT DISTINCT image_sha256 FROM outbox WHERE has_image = 1")}
        removed = 0
        for p in self.spool.iterdir():
            if p.name.startswith(".tmp-") or p.name not in wanted:
                p.unlink(missing_ok=True)
                removed += 1
        return removed

    def add(self, envelope: ResultEnvelope, image: bytes | None) -> bool:
        """Persist a result (and its image) durably; False if this result_id is already here.

        Raises DiskFull (nothing half-written is left behind) when the disk cannot take it.
        """
        sha = envelope.image.sha256
        try:
            if image is not None:
                self._spool(sha, image)
            with self._lock:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox(result_id, created_at, body, image_sha256, content_type, has_image)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        envelope.result_id,
                        time.time(),
                        canonical_json(envelope).decode(),
                        sha,
                        envelope.image.content_type,
                        int(image is not None),
                    ),
                )
                return cur.rowcount == 1
        except (OSError, sqlite3.OperationalError) as exc:
            if _is_disk_full(exc):
                raise DiskFull(errno.ENOSPC, f"outbox disk full: {exc}") from exc
            raise

    def _spool(self, sha: str, image: bytes) -> None:
        target = self.spool_path(sha)
        if target.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=self.spool, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(image)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a full disk must not leave a temp file per attempt
            raise

    def due(self, *, limit: int, resend_after_s: float, now: float | None = None) -> list[OutboxRow]:
        """Not parked, and never sent or due for another look: oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT result_id, body, image_sha256, content_type, has_image, image_stored, sent_at, stream_id FROM outbox"
                " WHERE parked_at IS NULL AND (sent_at IS NULL OR COALESCE(next_at, sent_at + ?) <= ?)"
                " ORDER BY created_at LIMIT ?",
                (resend_after_s, now, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6], r[7]) for r in rows]

    def mark_image_stored(self, sha256: str, stored: bool = True) -> None:
        """The API has the image (it need not be uploaded again), or has lost it (upload it again)."""
        with self._lock:
            if stored:
                self._db.execute("UPDATE outbox SET image_stored = 1 WHERE image_sha256 = ?", (sha256,))
            else:
                self._db.execute("UPDATE outbox SET image_stored = 0, next_at = NULL WHERE image_sha256 = ?", (sha256,))

    def mark_sent(
        self,
        result_ids: Sequence[str],
        now: float | None = None,
        *,
        stream_ids: Sequence[str | None] | None = None,
        resend_after_s: float = 30.0,
        max_steps: int = MAX_BACKOFF_STEPS,
    ) -> None:
        """Record an XADD of these results (with their stream entry ids); the next look backs off."""
        now = time.time() if now is None else now
        sids = list(stream_ids) if stream_ids is not None else [None] * len(result_ids)
        with self._lock:
            self._db.executemany(
                "UPDATE outbox SET sent_at = ?, send_count = send_count + 1, attempts = attempts + 1, stream_id = ?,"
                " next_at = ? + ? * (1 << MIN(attempts, ?)) WHERE result_id = ?",
                [(now, sid, now, resend_after_s, int(max_steps), rid) for rid, sid in zip(result_ids, sids, strict=True)],
            )

    def postpone(self, result_ids: Iterable[str], *, resend_after_s: float, now: float | None = None) -> None:
        """The entry is still queued in Redis: look again later (with backoff) instead of sending it twice."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.executemany(
                f"UPDATE outbox SET attempts = attempts + 1, next_at = ? + ? * (1 << MIN(attempts, {MAX_BACKOFF_STEPS}))"
                " WHERE result_id = ?",
                [(now, resend_after_s, rid) for rid in result_ids],
            )

    def sent_unconfirmed(self, limit: int = 1000) -> list[str]:
        """Result ids sent at least once, not parked, still waiting for confirmation."""
        with self._lock:
            return [
                r[0]
                for r in self._db.execute(
                    "SELECT result_id FROM outbox WHERE sent_at IS NOT NULL AND parked_at IS NULL ORDER BY sent_at LIMIT ?",
                    (limit,),
                )
            ]

    def stream_ids(self, result_ids: Sequence[str]) -> dict[str, str | None]:
        """The stream entry of each row's last send."""
        if not result_ids:
            return {}
        with self._lock:
            marks = ",".join("?" * len(result_ids))
            return dict(self._db.execute(f"SELECT result_id, stream_id FROM outbox WHERE result_id IN ({marks})", result_ids))

    def park(self, result_id: str, reason: str, *, key_id: str | None = None, now: float | None = None) -> None:
        """Refused for good: keep it (nothing is lost), say why, and stop sending it."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET parked_at = ?, parked_reason = ?, parked_key = ? WHERE result_id = ? AND parked_at IS NULL",
                (now, reason[:500], key_id, result_id),
            )

    def unpark(self, result_ids: Sequence[str] | None = None, *, refused_under_other_key: str | None = None) -> int:
        """Send parked rows again as new: those listed, every one (None), or those a key refusal parked under another key."""
        where, args = "parked_at IS NOT NULL", []
        if refused_under_other_key is not None:
            where += " AND parked_reason LIKE 'signature:%' AND COALESCE(parked_key, '') != ?"
            args.append(refused_under_other_key)
        elif result_ids is not None:
            if not result_ids:
                return 0
            where += f" AND result_id IN ({','.join('?' * len(result_ids))})"
            args.extend(result_ids)
        with self._lock:
            cur = self._db.execute(
                "UPDATE outbox SET parked_at = NULL, parked_reason = NULL, parked_key = NULL, next_at = NULL,"
                f" stream_id = NULL, sent_at = NULL, attempts = 0 WHERE {where}",
                args,
            )
            return cur.rowcount

    def resend_now(self, result_ids: Sequence[str]) -> None:
        """Send these rows again at the next pass, as if never sent (e.g. re-signed under a new key)."""
        with self._lock:
            self._db.executemany(
                "UPDATE outbox SET sent_at = NULL, next_at = NULL, stream_id = NULL, attempts = 0 WHERE result_id = ?",
                [(rid,) for rid in result_ids],
            )

    def parked(self, limit: int = 100) -> list[tuple[str, str, float]]:
        """(result_id, reason, parked_at) of parked rows, oldest first."""
        with self._lock:
            return [
                (r[0], r[1] or "", float(r[2]))
                for r in self._db.execute(
                    "SELECT result_id, parked_reason, parked_at FROM outbox WHERE parked_at IS NOT NULL ORDER BY parked_at LIMIT ?",
                    (limit,),
                )
            ]

    def forget(self, result_ids: list[str]) -> int:
        """Drop confirmed results and any spooled image no other result needs.

        On a full disk the DELETE itself can fail (SQLite needs room for its journal): the images of
        these confirmed results are removed first to make that room, then the DELETE is tried again.
        """
        if not result_ids:
            return 0
        marks = ",".join("?" * len(result_ids))
        with self._lock:
            shas = {r[0] for r in self._db.execute(f"SELECT image_sha256 FROM outbox WHERE result_id IN ({marks})", result_ids)}
            still = self._shared(shas, result_ids)
            try:
                cur = self._db.execute(f"DELETE FROM outbox WHERE result_id IN ({marks})", result_ids)
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
                for sha in shas - still:
                    self.spool_path(sha).unlink(missing_ok=True)
                cur = self._db.execute(f"DELETE FROM outbox WHERE result_id IN ({marks})", result_ids)
        for sha in shas - still:
            self.spool_path(sha).unlink(missing_ok=True)
        return cur.rowcount

    def _shared(self, shas: set[str], leaving: list[str]) -> set[str]:
        """Those images that rows other than `leaving` still need."""
        if not shas:
            return set()
        return {
            r[0]
            for r in self._db.execute(
                f"SELECT image_sha256 FROM outbox WHERE image_sha256 IN ({','.join('?' * len(shas))})"
                f" AND result_id NOT IN ({','.join('?' * len(leaving))})",
                [*shas, *leaving],
            )
        }

    def count(self) -> int:
        """Results not yet confirmed (parked ones included)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def status(self, now: float | None = None) -> OutboxStatus:
        """Waiting, in flight and parked rows, the age of the oldest unconfirmed one, spool size."""
        now = time.time() if now is None else now
        with self._lock:
            waiting, in_flight, parked, oldest = self._db.execute(
                "SELECT sum(sent_at IS NULL AND parked_at IS NULL), sum(sent_at IS NOT NULL AND parked_at IS NULL),"
                " sum(parked_at IS NOT NULL), min(CASE WHEN parked_at IS NULL THEN created_at END) FROM outbox"
            ).fetchone()
            reasons = dict(
                self._db.execute(
                    "SELECT parked_reason, count(*) FROM outbox WHERE parked_at IS NOT NULL GROUP BY parked_reason"
                ).fetchall()
            )
        spool = sum(p.stat().st_size for p in self.spool.iterdir() if p.is_file())
        return OutboxStatus(
            waiting=int(waiting or 0),
            in_flight=int(in_flight or 0),
            parked=int(parked or 0),
            oldest_unconfirmed_s=None if oldest is None else max(0.0, now - float(oldest)),
            spool_bytes=spool,
            parked_reasons={str(k): int(v) for k, v in reasons.items()},
        )

    def all_ids(self) -> set[str]:
        """Every result id in the outbox (tests, diagnostics)."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT result_id FROM outbox")}
