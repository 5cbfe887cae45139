"""Stream message framing and HMAC-SHA256 signing of result envelopes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from services.contracts.result import SCHEMA_VERSION, SUPPORTED_VERSIONS, ResultEnvelope, canonical_json

STREAM_PREFIX = "results:"
DEAD_LETTER_STREAM = "results-dead"
MAX_BODY_BYTES = 256 * 1024


class SignatureError(ValueError):
    """The message is unsigned, signed with an unknown key, or its signature does not match."""


@dataclass(frozen=True)
class StreamMessage:
    """A decoded, verified message from a device stream."""

    envelope: ResultEnvelope
    key_id: str


def results_stream(device_id: str) -> str:
    """Name of the Redis stream a device publishes to."""
    return f"{STREAM_PREFIX}{device_id}"


def derive_signing_key(master_secret: bytes, device_id: str, key_id: str) -> bytes:
    """Per-device signing key derived from the server secret, so the server stores none."""
    return hmac.new(master_secret, f"eltrace-sign|{device_id}|{key_id}".encode(), hashlib.sha256).digest()


def _sign(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def encode_body(body: bytes, *, key_id: str, key: bytes) -> dict[str, str]:
    """Fields for XADD from already canonical JSON bytes (what the outbox keeps)."""
    return {"v": str(SCHEMA_VERSION), "kid": key_id, "sig": _sign(key, body), "body": body.decode()}


def encode_message(envelope: ResultEnvelope, *, key_id: str, key: bytes) -> dict[str, str]:
    """Fields for XADD: version, key id, signature and the canonical JSON body."""
    return encode_body(canonical_json(envelope), key_id=key_id, key=key)


def decode_fields(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """Stream fields as read from Redis (bytes) to text; ValueError naming the first field that is not UTF-8."""
    out: dict[str, str] = {}
    for k, v in raw.items():
        try:
            name = k.decode() if isinstance(k, bytes) else k
        except UnicodeDecodeError as exc:
            raise ValueError("a field name is not UTF-8") from exc
        try:
            out[name] = v.decode() if isinstance(v, bytes) else v
        except UnicodeDecodeError as exc:
            raise ValueError(f"field {name[:40]!r} is not UTF-8 (byte {exc.start})") from exc
    return out


def decode_message(
    fields: dict[str, str], *, stream_device: str, key_lookup: Callable[[str, str], bytes | None]
) -> StreamMessage:
    """Verify and parse stream fields; raises ValueError (or a subclass) with the reason."""
    version = fields.get("v")
    # The frame's v is the newest version the sender speaks; the body's schema_version governs, so
    # v1 bodies re-sent from an outbox after an edge upgrade (framed v=2) still land.
    if version not in {str(v) for v in SUPPORTED_VERSIONS}:
        raise ValueError(f"unsupported schema version {version!r}")
    body_text = fields.get("body")
    if not body_text:
        raise ValueError("missing body")
    body = body_text.encode()
    if len(body) > MAX_BODY_BYTES:
        raise ValueError("body too large")
    key_id, sig = fields.get("kid"), fields.get("sig")
    if not key_id or not sig:
        raise SignatureError("unsigned message")
    key = key_lookup(stream_device, key_id)
    if key is None:
        raise SignatureError(f"unknown key {key_id!r} for device {stream_device!r}")
    if not hmac.compare_digest(_sign(key, body), sig):
        raise SignatureError("signature does not match")
    try:
        # pydantic-core parses the JSON itself: one pass, no intermediate dicts.
        envelope = ResultEnvelope.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ValueError(f"body is not JSON: {exc.errors()[0]['msg']}") from exc
        raise
    if envelope.device_id != stream_device:
        raise SignatureError(f"device {stream_device!r} published a result claiming device {envelope.device_id!r}")
    return StreamMessage(envelope=envelope, key_id=key_id)
