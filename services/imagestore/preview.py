"""Screen-sized JPEG previews of stored EL images (a 4 MP 16-bit PNG is slow to ship to a station PC)."""

from __future__ import annotations

import cv2
import numpy as np

from services.core.errors import InvalidInput
from services.imagestore.store import BlobStore

PREVIEW_WIDTHS = (800, 1600)


def preview_jpeg(*, blobs: BlobStore, sha256: str, width: int) -> bytes:
    """A JPEG at most `width` pixels wide (cached beside the blobs; content-addressed, so never stale)."""
    if width not in PREVIEW_WIDTHS:
        raise InvalidInput(f"preview width must be one of {PREVIEW_WIDTHS}")
    key = f"preview-{width}-{sha256}"
    cached = blobs.get_derived(key)
    if cached is not None:
        return cached
    raw = np.frombuffer(blobs.get(sha256), np.uint8)
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)  # uint8 or uint16, 1 or 3 channels
    if img is None:
        raise InvalidInput(f"image {sha256} cannot be decoded")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:
        # 16-bit EL: stretch the 0.5..99.5 percentile range to 8 bits so dark cells stay visible.
        lo, hi = np.percentile(img, (0.5, 99.5))
        img = np.clip((img.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1.0)), 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    if w > width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise InvalidInput(f"image {sha256} cannot be encoded as a preview")
    data = buf.tobytes()
    blobs.put_derived(key, data)
    return data
