"""Webhook signatures as a receiver checks them (the code docs/integration.md documents)."""

from __future__ import annotations

import time

from services.events.signing import picture_query, picture_valid, sign, verify

BODY = b'[{"id":"e1","type":"com.eltrace.loop.opened"}]'


def test_a_genuine_delivery_verifies() -> None:
    assert verify(BODY, sign(BODY, {"k1": "s3cret"}), key_id="k1", secret="s3cret")


def test_a_tampered_body_wrong_secret_or_unknown_key_is_rejected() -> None:
    header = sign(BODY, {"k1": "s3cret"})
    assert not verify(BODY.replace(b"e1", b"e2"), header, key_id="k1", secret="s3cret")
    assert not verify(BODY, header, key_id="k1", secret="other")
    assert not verify(BODY, header, key_id="k2", secret="s3cret")
    assert not verify(BODY, "garbage", key_id="k1", secret="s3cret")


def test_a_replayed_delivery_with_an_old_timestamp_is_rejected() -> None:
    old = sign(BODY, {"k1": "s3cret"}, now=int(time.time()) - 301)
    assert not verify(BODY, old, key_id="k1", secret="s3cret")
    assert verify(BODY, sign(BODY, {"k1": "s3cret"}, now=int(time.time()) - 299), key_id="k1", secret="s3cret")


def test_during_a_rotation_both_keys_verify() -> None:
    header = sign(BODY, {"knew": "new", "kold": "old"})
    assert verify(BODY, header, key_id="knew", secret="new") and verify(BODY, header, key_id="kold", secret="old")


def test_picture_links_expire_and_cannot_be_moved_to_another_picture() -> None:
    q = dict(p.split("=") for p in picture_query(b"m", "a" * 64, ttl_s=60).split("&"))
    exp, sig = int(q["expires"]), q["sig"]
    assert picture_valid(b"m", "a" * 64, exp, sig)
    assert not picture_valid(b"m", "b" * 64, exp, sig)
    assert not picture_valid(b"m", "a" * 64, exp + 1, sig)
    assert not picture_valid(b"m", "a" * 64, exp, sig, now=exp + 1)


def test_a_non_ascii_signature_is_refused_not_a_crash() -> None:
    """The fuzzer's case: sig=%C2%80 made compare_digest raise TypeError (a 500) instead of refusing the link."""
    exp = int(time.time()) + 60
    assert not picture_valid(b"m", "a" * 64, exp, "\x80")
    assert not picture_valid(b"m", "a" * 64, exp, "签名")
