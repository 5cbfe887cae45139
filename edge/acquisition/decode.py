"""Decoding string EL images with hard limits; anything unjudgeable raises ImageRejected."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

# OpenCV's own pixel cap, read when cv2 first decodes: keep it at the edge's cap.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(64 * 1024 * 1024))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from services.contracts.images import image_content_type  # noqa: E402

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 10x the ~4 MP a tester writes; more is a decompression bomb or a wrong file
MIN_SIDE = 64

_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "BMP": "image/bmp"}


class ImageRejected(ValueError):
    """The image cannot be judged; the message is the reason shown to people."""


@dataclass(frozen=True)
class DecodedImage:
    """Grayscale pixels plus what was learnt from the file."""

    pixels: np.ndarray  # (H, W) uint8 or uint16
    bit_depth: int  # 8 or 16
    content_type: str


def sniff(data: bytes) -> str | None:
    """Content type by the contract's rule (magic bytes), without decoding pixels: None when the store would refuse it."""
    return image_content_type(data)


def decode(data: bytes) -> DecodedImage:
    """Decode PNG/TIFF/JPEG/BMP (8 or 16 bit) to one grayscale plane, checking size first."""
    if not data:
        raise ImageRejected("empty file")
    if len(data) > MAX_FILE_BYTES:
        raise ImageRejected(f"file is {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
    try:
        # Header only: width and height before a single pixel is decoded (decompression bombs).
        with Image.open(io.BytesIO(data)) as im:
            fmt, (w, h) = im.format or "", im.size
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"decompression bomb refused: {exc}") from exc
    except Exception as exc:  # noqa: BLE001
        raise ImageRejected("not a readable image (PNG, TIFF, JPEG or BMP)") from exc
    if fmt not in _CONTENT_TYPES:
        raise ImageRejected(f"unsupported image format {fmt or 'unknown'}")
    if image_content_type(data) is None:  # e.g. BigTIFF: readable here, refused by the traceability store
        raise ImageRejected(f"unsupported {fmt} variant (the traceability store takes PNG, baseline TIFF, JPEG, BMP)")
    if w * h > MAX_PIXELS:
        raise ImageRejected(f"image is {w}x{h} = {w * h} pixels, over the {MAX_PIXELS} limit")
    if min(w, h) < MIN_SIDE:
        raise ImageRejected(f"image is {w}x{h}, too small to hold a string")
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageRejected("image data is corrupt or truncated")
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code)
    if img.dtype == np.uint8:
        depth = 8
    elif img.dtype == np.uint16:
        depth = 16
    else:
        raise ImageRejected(f"unsupported pixel type {img.dtype}")
    if img.shape != (h, w):
        raise ImageRejected("decoded size differs from the header: truncated file")
    return DecodedImage(pixels=img, bit_depth=depth, content_type=_CONTENT_TYPES[fmt])


def to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """(H, W) uint8/uint16 -> float32 in [0, 1], stretched between the 0.5 and 99.5 percentiles.

    16-bit testers rarely use the full range; the stretch makes 8- and 16-bit images look alike.
    """
    sample = pixels[:: max(1, pixels.shape[0] // 256), :: max(1, pixels.shape[1] // 256)]
    lo, hi = np.percentile(sample, (0.5, 99.5))
    if hi - lo < 1e-6:
        return np.zeros(pixels.shape, dtype=np.float32)
    out = (pixels.astype(np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    return np.clip(out, 0.0, 1.0, out=out)


def to_unit_u8(pixels: np.ndarray) -> np.ndarray:
    """(H, W) uint8/uint16 -> uint8, stretched like to_unit_float: the edge's fast path.

    After the stretch 8 bits resolve far finer than an EL defect's contrast, and uint8 halves to
    quarters the cost of every resize and warp that follows.
    """
    sample = pixels[:: max(1, pixels.shape[0] // 256), :: max(1, pixels.shape[1] // 256)]
    lo, hi = np.percentile(sample, (0.5, 99.5))
    if hi - lo < 1e-6:
        return np.zeros(pixels.shape, dtype=np.uint8)
    alpha = 255.0 / (hi - lo)
    return cv2.convertScaleAbs(pixels, alpha=alpha, beta=-lo * alpha)
