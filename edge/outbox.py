"""Local durable outbox (SQLite WAL, synchronous=FULL): a result lives here until the API confirms it."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
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


class Outbox:
    """Durable queue of results; image bytes sit in a spool directory next to it."""

    def __init__(self, path: Path) -> None:
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

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def spool_path(self, sha256: str) -> Path:
        """Where the bytes of an image wait for upload."""
        return self.spool / sha256

    def add(self, envelope: ResultEnvelope, image: bytes | None) -> bool:
        """Persist a result (and its image) durably; False if this result_id is already here."""
        sha = envelope.image.sha256
        if image is not None:
            target = self.spool_path(sha)
            if not target.exists():
                fd, tmp = tempfile.mkstemp(dir=self.spool, prefix=".tmp-")
                with os.fdopen(fd, "wb") as f:
                    f.write(image)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
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

    def due(self, *, limit: int, resend_after_s: float, now: float | None = None) -> list[OutboxRow]:
        """Never sent, or sent long enough ago without confirmation: oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT result_id, body, image_sha256, content_type, has_image, image_stored, sent_at FROM outbox"
                " WHERE sent_at IS NULL OR sent_at < ? ORDER BY created_at LIMIT ?",
                (now - resend_after_s, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6]) for r in rows]

    def mark_image_stored(self, sha256: str) -> None:
        """The API has the image; it need not be uploaded again."""
        with self._lock:
            self._db.execute("UPDATE outbox SET image_stored = 1 WHERE image_sha256 = ?", (sha256,))

    def mark_sent(self, result_ids: list[str], now: float | None = None) -> None:
        """Record an XADD of these results."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.executemany(
                "UPDATE outbox SET sent_at = ?, send_count = send_count + 1 WHERE result_id = ?",
                [(now, rid) for rid in result_ids],
            )

    def sent_unconfirmed(self, limit: int = 1000) -> list[str]:
        """Result ids sent at least once and still waiting for confirmation."""
        with self._lock:
            return [
                r[0]
                for r in self._db.execute(
                    "SELECT result_id FROM outbox WHERE sent_at IS NOT NULL ORDER BY sent_at LIMIT ?", (limit,)
                )
            ]

    def forget(self, result_ids: list[str]) -> int:
        """Drop confirmed results and any spooled image no other result needs."""
        if not result_ids:
            return 0
        with self._lock:
            marks = ",".join("?" * len(result_ids))
            shas = {r[0] for r in self._db.execute(f"SELECT image_sha256 FROM outbox WHERE result_id IN ({marks})", result_ids)}
            cur = self._db.execute(f"DELETE FROM outbox WHERE result_id IN ({marks})", result_ids)
            still = (
                {
                    r[0]
                    for r in self._db.execute(
                        f"SELECT image_sha256 FROM outbox WHERE image_sha256 IN ({','.join('?' * len(shas))})", list(shas)
                    )
                }
                if shas
                else set()
            )
        for sha in shas - still:
            self.spool_path(sha).unlink(missing_ok=True)
        return cur.rowcount

    def count(self) -> int:
        """Results not yet confirmed."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def all_ids(self) -> set[str]:
        """Every result id in the outbox (tests, diagnostics)."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT result_id FROM outbox")}
