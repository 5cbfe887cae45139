"""Content-addressed image store: a directory by default (S3-compatible in production, see docs)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import InvalidInput, NotFound
from services.core.time import utcnow
from services.core.upsert import insert_ignore
from services.imagestore.orm import StoredImage

# Magic numbers of the formats an EL tester writes; anything else is refused.
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
]


def sniff_content_type(data: bytes) -> str | None:
    """Image content type from the first bytes, or None for anything else."""
    for magic, ctype in _MAGIC:
        if data.startswith(magic):
            return ctype
    return None


class BlobStore(Protocol):
    """Where image bytes live, keyed by sha256."""

    def put(self, sha256: str, data: bytes) -> None: ...
    def get(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None: ...
    def get_derived(self, key: str) -> bytes | None: ...
    def put_derived(self, key: str, data: bytes) -> None: ...


class DirectoryBlobStore:
    """Blobs as files under root/ab/cd/<sha256>, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"image {sha256} not in store") from exc

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)
        for derived in (self.root / "derived").glob(f"*-{sha256}"):
            derived.unlink(missing_ok=True)

    def get_derived(self, key: str) -> bytes | None:
        """A cached derivative (e.g. a preview); None when not made yet."""
        try:
            return (self.root / "derived" / key).read_bytes()
        except FileNotFoundError:
            return None

    def put_derived(self, key: str, data: bytes) -> None:
        """Cache a derivative; it can always be made again, so no fsync."""
        path = self.root / "derived" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


def store_image(*, session: Session, blobs: BlobStore, data: bytes, expected_sha256: str) -> StoredImage:
    """Verify and store an uploaded image; idempotent. Bytes are durable before the row exists."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise InvalidInput(f"sha256 mismatch: body is {actual}")
    ctype = sniff_content_type(data)
    if ctype is None:
        raise InvalidInput("not a PNG, TIFF, JPEG or BMP image")
    blobs.put(actual, data)
    session.execute(
        insert_ignore(session, StoredImage.__table__, ["sha256"]),
        [{"sha256": actual, "size_bytes": len(data), "content_type": ctype, "stored_at": utcnow()}],
    )
    return stored_image(session, actual)


def stored_image(session: Session, sha256: str) -> StoredImage:
    """The row of a stored image (NotFound when there is none)."""
    row = session.get(StoredImage, sha256)
    if row is None:
        raise NotFound(f"image {sha256} not found")
    return row


def load_image(*, session: Session, blobs: BlobStore, sha256: str) -> tuple[bytes, str]:
    """Bytes and content type of a stored image."""
    row = stored_image(session, sha256)
    return blobs.get(sha256), row.content_type


def prune_images(*, session: Session, older_than: datetime) -> list[str]:
    """Retention: drop rows of images stored before `older_than`; returns their sha256s.

    The caller deletes the blobs after its commit, so a crash leaves an orphan file, never a dangling row.
    """
    rows = list(session.scalars(select(StoredImage).where(StoredImage.stored_at < older_than)))
    for row in rows:
        session.delete(row)
    session.flush()
    return [row.sha256 for row in rows]
