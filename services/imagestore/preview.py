"""Screen-sized JPEG previews of stored EL images (a 4 MP 16-bit PNG is slow to ship to a station PC)."""

from __future__ import annotations

import io
import threading

import cv2
import numpy as np
from PIL import Image

from services.core.errors import InvalidInput
from services.core.i18n import N_
from services.imagestore.store import BlobStore

PREVIEW_WIDTHS = (800, 1600)
MAX_PIXELS = 40_000_000  # the edge's limit: 10x a tester's 4 MP; more is a bomb or a wrong file
# Decoding a 40 MP 16-bit image takes ~80 MB for a moment: at most two at a time per API process.
_DECODES = threading.BoundedSemaphore(2)


def _checked_size(data: bytes, sha256: str) -> None:
    """Width x height from the header alone, before a single pixel is decoded (decompression bombs)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Image.DecompressionBombError as exc:
        raise InvalidInput(
            N_("image %(sha)s is a decompression bomb, over the %(limit)s preview limit"), sha=sha256, limit=f"{MAX_PIXELS:,}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds
        raise InvalidInput(N_("image %(sha)s cannot be decoded"), sha=sha256) from exc
    if w * h > MAX_PIXELS:
        raise InvalidInput(
            N_("image %(sha)s is %(w)sx%(h)s = %(pixels)s pixels, over the %(limit)s preview limit"),
            sha=sha256,
            w=w,
            h=h,
            pixels=f"{w * h:,}",
            limit=f"{MAX_PIXELS:,}",
        )


def preview_jpeg(*, blobs: BlobStore, sha256: str, width: int) -> bytes:
    """A JPEG at most `width` pixels wide (cached beside the blobs; content-addressed, so never stale)."""
    if width not in PREVIEW_WIDTHS:
        raise InvalidInput(N_("preview width must be one of %(choices)s"), choices=", ".join(map(str, PREVIEW_WIDTHS)))
    key = f"preview-{width}-{sha256}"
    cached = blobs.get_derived(key)
    if cached is not None:
        return cached
    data = blobs.get(sha256)
    _checked_size(data, sha256)
    with _DECODES:
        out = _encode(np.frombuffer(data, np.uint8), sha256, width)
    blobs.put_derived(key, out)
    return out


def _encode(raw: np.ndarray, sha256: str, width: int) -> bytes:
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)  # uint8 or uint16, 1 or 3 channels
    if img is None:
        raise InvalidInput(N_("image %(sha)s cannot be decoded"), sha=sha256)
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)  # colour kept: an 8D attachment may be a photo
    if img.dtype != np.uint8:
        # 16-bit EL: stretch the 0.5..99.5 percentile range to 8 bits so dark cells stay visible.
        lo, hi = np.percentile(img, (0.5, 99.5))
        img = np.clip((img.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1.0)), 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    if w > width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise InvalidInput(N_("image %(sha)s cannot be encoded as a preview"), sha=sha256)
    return bytes(buf.tobytes())
