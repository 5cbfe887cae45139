"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", one per live key id, and their verification.

Header: `Eltrace-Signature: t=1733131200, k3f9a1c=<hex>, k0b12ee=<hex>` -- t is the send time (unix
seconds); each other pair is a key id and its signature (two during a secret rotation). A receiver
keeps its key id and secret, checks the time window (replays) and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Eltrace-Signature"
REPLAY_WINDOW_S = 300


def derive_secret(master_secret: bytes, subscriber: str, key_id: str) -> str:
    """The secret of one subscriber key (never stored: the server re-derives it)."""
    return hmac.new(
        master_secret, b"eltrace-webhook\x00" + subscriber.encode() + b"\x00" + key_id.encode(), hashlib.sha256
    ).hexdigest()


def sign(body: bytes, keys: dict[str, str], *, now: int | None = None) -> str:
    """The header value for body, signed with every (key id -> secret) given."""
    t = int(time.time()) if now is None else now
    parts = [f"t={t}"]
    for kid, secret in keys.items():
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        parts.append(f"{kid}={mac}")
    return ", ".join(parts)


def verify(
    body: bytes, header: str, *, key_id: str, secret: str, now: float | None = None, window_s: int = REPLAY_WINDOW_S
) -> bool:
    """True when header carries a valid signature of body by key_id, sent within window_s of now.

    This is the verification documented in docs/integration.md; receivers should also drop event ids
    they have already processed (delivery is at least once).
    """
    try:
        fields = dict(p.strip().split("=", 1) for p in header.split(","))
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > window_s:
        return False
    want = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(fields.get(key_id, ""), want)


def picture_signature(master_secret: bytes, sha256: str, expires: int) -> str:
    """The signature of a picture link that is valid until `expires` (unix seconds)."""
    return hmac.new(master_secret, f"eltrace-picture\x00{sha256}\x00{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def picture_query(master_secret: bytes, sha256: str, *, ttl_s: int = 900, now: float | None = None) -> str:
    """`expires=...&sig=...` of a picture link valid for ttl_s from now."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"expires={expires}&sig={picture_signature(master_secret, sha256, expires)}"


def picture_valid(master_secret: bytes, sha256: str, expires: int, sig: str, *, now: float | None = None) -> bool:
    """A picture link that is signed by this server and not expired."""
    if expires < (time.time() if now is None else now):
        return False
    # As bytes: compare_digest raises TypeError on a non-ASCII str, and a link's sig is whatever a client sent.
    return hmac.compare_digest(sig.encode(), picture_signature(master_secret, sha256, expires).encode())
