"""The result contract and its signing: what edge and server agree on."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.contracts import (
    Grid,
    ResultEnvelope,
    SignatureError,
    canonical_json,
    decode_message,
    derive_signing_key,
    encode_message,
)
from tests.support.factories import make_envelope

KEY = derive_signing_key(b"server-secret", "edge-t1", "k1")


def lookup(device: str, kid: str) -> bytes | None:
    return KEY if (device, kid) == ("edge-t1", "k1") else None


def test_roundtrip_is_canonical_and_verified() -> None:
    env, _ = make_envelope("edge-t1", 7)
    fields = encode_message(env, key_id="k1", key=KEY)
    assert fields["body"] == canonical_json(env).decode()
    # A v2 result leaves out the v3 shadow key: it serialises byte for byte as before v3 existed.
    assert json.loads(fields["body"]) == json.loads(env.model_dump_json(exclude={"shadow"}))
    msg = decode_message(fields, stream_device="edge-t1", key_lookup=lookup)
    assert msg.envelope == env and msg.key_id == "k1"


def test_result_id_is_deterministic_and_checked() -> None:
    a, _ = make_envelope("edge-t1", 3)
    b, _ = make_envelope("edge-t1", 3)
    assert a.result_id == b.result_id
    data = json.loads(a.model_dump_json())
    data["barcode"] = "OTHER0001"
    with pytest.raises(ValidationError, match="result_id"):
        ResultEnvelope.model_validate(data)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(verdict="OK"), "verdict NG if and only if"),
        (lambda d: d.update(verdict="ERROR"), "must say why"),
        (lambda d: d.update(cells=d["cells"][:5]), "one entry per cell"),
        (lambda d: d.update(error="x"), "only ERROR"),
        (lambda d: d.update(extra_field=1), "Extra inputs"),
        (lambda d: d.update(captured_at="2026-11-01T06:00:00"), "timezone"),
        (lambda d: d["cells"][-1].update(col=13), "outside grid"),
        (lambda d: d["cells"][-1].update(col=1), "more than once"),
    ],
)
def test_inconsistent_envelopes_are_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    env, _ = make_envelope("edge-t1", 0)  # i=0 is NG
    data = json.loads(env.model_dump_json())
    change(data)
    with pytest.raises(ValidationError, match=message):
        ResultEnvelope.model_validate(data)


def test_tampering_and_foreign_keys_are_detected() -> None:
    env, _ = make_envelope("edge-t1", 1)
    fields = encode_message(env, key_id="k1", key=KEY)
    tampered = dict(fields, body=fields["body"].replace('"verdict":"OK"', '"verdict":"NG"'))
    with pytest.raises(SignatureError, match="does not match"):
        decode_message(tampered, stream_device="edge-t1", key_lookup=lookup)
    with pytest.raises(SignatureError, match="unknown key"):
        decode_message(fields, stream_device="edge-t2", key_lookup=lookup)
    with pytest.raises(SignatureError, match="unsigned"):
        decode_message({"v": "1", "body": fields["body"]}, stream_device="edge-t1", key_lookup=lookup)


def test_a_device_cannot_publish_a_result_in_another_devices_name() -> None:
    """Signed with the stream's own key, but the body claims another device: refused (fast twin of the reliability test)."""
    other, _ = make_envelope("edge-t2", 1)
    fields = encode_message(other, key_id="k1", key=KEY)
    with pytest.raises(SignatureError, match="claiming device 'edge-t2'"):
        decode_message(fields, stream_device="edge-t1", key_lookup=lookup)


def test_grid_parsing() -> None:
    assert Grid.parse("2x12") == Grid(rows=2, cols=12) and str(Grid.parse(" 1 X 24 ")) == "1x24"
    with pytest.raises(ValueError):
        Grid.parse("12")


def _review_variant(env: ResultEnvelope) -> dict:
    """The same string with its NG cell demoted to REVIEW (no NG left)."""
    data = json.loads(env.model_dump_json())
    for c in data["cells"]:
        if c["ng"]:
            c.update(ng=False, decision="REVIEW")
    data["verdict"] = "REVIEW"
    return data


def test_v2_review_verdict_and_its_invariants() -> None:
    env, _ = make_envelope("edge-t1", 0)  # NG at cell 1,3
    assert env.schema_version == 2 and all(c.decision is not None and c.p_defect is not None for c in env.cells)
    review = ResultEnvelope.model_validate(_review_variant(env))
    assert review.verdict == "REVIEW" and [c.effective_decision for c in review.cells].count("REVIEW") == 1
    bad = _review_variant(env)
    bad["verdict"] = "OK"  # a REVIEW cell cannot hide in an OK string
    with pytest.raises(ValidationError, match="REVIEW if and only if"):
        ResultEnvelope.model_validate(bad)
    bad = _review_variant(env)
    bad["cells"][2]["ng"] = True  # ng and decision disagree
    with pytest.raises(ValidationError, match="ng must be true exactly when"):
        ResultEnvelope.model_validate(bad)
    bad = json.loads(env.model_dump_json())
    bad["cells"][0].pop("p_defect")
    with pytest.raises(ValidationError, match="needs decision and p_defect"):
        ResultEnvelope.model_validate(bad)


def test_v1_results_still_validate_verify_and_keep_their_bytes() -> None:
    """A result queued by an edge before the upgrade (v1 body, framed v=1 or re-sent as v=2) still lands."""
    v1, _ = make_envelope("edge-t1", 0, schema_version=1)
    body = canonical_json(v1)
    assert b'"decision"' not in body and b'"p_defect"' not in body  # the v1 bytes, unchanged
    for framing in ("1", "2"):
        fields = {**encode_message(v1, key_id="k1", key=KEY), "v": framing}
        msg = decode_message(fields, stream_device="edge-t1", key_lookup=lookup)
        assert msg.envelope.schema_version == 1 and msg.envelope.verdict == "NG"
        assert [c.effective_decision for c in msg.envelope.cells].count("NG") == 1
    data = json.loads(body)
    data["verdict"] = "REVIEW"
    with pytest.raises(ValidationError, match="REVIEW needs schema_version 2"):
        ResultEnvelope.model_validate(data)
    data = json.loads(body)
    data["cells"][0]["decision"] = "OK"
    with pytest.raises(ValidationError, match="need schema_version 2"):
        ResultEnvelope.model_validate(data)


def _shadowed(env: ResultEnvelope, **shadow: object) -> dict[str, object]:
    data = json.loads(env.model_dump_json())
    cells = [
        {"row": c["row"], "col": c["col"], "decision": "OK", "p_defect": 0.01, "top_class": "crack", "top_score": 0.01}
        for c in data["cells"]
    ]
    data["shadow"] = {"model": {**data["model"], "version": "9.9.9"}, "verdict": "OK", "cells": cells, "ms": 12.5, **shadow}
    data["schema_version"] = 3
    return data


def test_a_v3_result_carries_a_shadow_verdict_that_judges_the_same_cells() -> None:
    env, _ = make_envelope("edge-t1", 8)
    v3 = ResultEnvelope.model_validate(_shadowed(env))
    assert v3.shadow is not None and b'"shadow"' in canonical_json(v3)
    msg = decode_message(encode_message(v3, key_id="k1", key=KEY), stream_device="edge-t1", key_lookup=lookup)
    assert msg.envelope == v3
    with pytest.raises(ValidationError, match="comes with schema_version 3"):
        ResultEnvelope.model_validate({**_shadowed(env), "schema_version": 2})
    with pytest.raises(ValidationError, match="comes with schema_version 3"):
        ResultEnvelope.model_validate({**json.loads(env.model_dump_json()), "schema_version": 3})
    data = _shadowed(env)
    data["shadow"]["cells"] = data["shadow"]["cells"][:-1]  # type: ignore[index]
    with pytest.raises(ValidationError, match="same cells"):
        ResultEnvelope.model_validate(data)
    with pytest.raises(ValidationError, match="does not follow from its cells"):
        ResultEnvelope.model_validate(_shadowed(env, verdict="NG"))
    with pytest.raises(ValidationError, match="says why"):
        ResultEnvelope.model_validate(_shadowed(env, verdict="ERROR", cells=[]))
    failed = ResultEnvelope.model_validate(_shadowed(env, verdict="ERROR", error="shadow failed: boom", cells=[]))
    assert failed.shadow is not None and failed.verdict == env.verdict  # the live verdict is untouched
