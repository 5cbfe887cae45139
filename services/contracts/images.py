"""The image types a result may carry: one rule, used by the edge (judge, upload) and the API (store)."""

from __future__ import annotations

# Magic numbers of the formats an EL tester writes. BigTIFF ("II+\0" / "MM\0+") is not among them:
# Pillow reads it, the store refuses it, so the edge refuses it too (an ERROR result, never uploaded).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)
IMAGE_CONTENT_TYPES = frozenset(ctype for _magic, ctype in _MAGIC)


def image_content_type(data: bytes) -> str | None:
    """Content type from the first bytes, or None for anything the traceability store refuses."""
    for magic, ctype in _MAGIC:
        if data.startswith(magic):
            return ctype
    return None
