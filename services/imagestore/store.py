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

from services.contracts.images import image_content_type
from services.core.errors import InvalidInput, NotFound
from services.core.i18n import N_
from services.core.time import utcnow
from services.core.upsert import insert_ignore
from services.imagestore.orm import StoredImage


def sniff_content_type(data: bytes) -> str | None:
    """Image content type from the first bytes (the contract's rule), or None for anything else."""
    return image_content_type(data)


class BlobStore(Protocol):
    """Where image bytes live, keyed by sha256."""

    def put(self, sha256: str, data: bytes) -> None: ...
    def get(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int | None: ...
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
        """Write durably: file fsynced, renamed into place, the directory entries fsynced too.

        An existing file is trusted only when its bytes hash to its name; a torn or bit-rotten copy
        (a power cut before this fix, a failing disk) is replaced by the upload.
        """
        path = self._path(sha256)
        if path.exists() and _file_sha256(path) == sha256:
            return
        new_dirs = [d for d in (path.parent.parent, path.parent) if not d.exists()]
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
        # The rename and any new directory live in their parents' entries: without these fsyncs a
        # power cut can leave the file's bytes on disk and no name pointing at them.
        _fsync_dir(path.parent)
        for d in reversed(new_dirs):
            _fsync_dir(d.parent)

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(N_("image %(sha)s not in store"), sha=sha256) from exc

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def size(self, sha256: str) -> int | None:
        """Bytes on disk, or None when the file is missing."""
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            return None

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


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_image(*, session: Session, blobs: BlobStore, data: bytes, expected_sha256: str) -> StoredImage:
    """Verify and store an uploaded image; idempotent. Bytes are durable before the row exists."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise InvalidInput(N_("sha256 mismatch: body is %(sha)s"), sha=actual)
    ctype = sniff_content_type(data)
    if ctype is None:
        raise InvalidInput(N_("not a PNG, TIFF, JPEG or BMP image"))
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
        raise NotFound(N_("image %(sha)s not found"), sha=sha256)
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
