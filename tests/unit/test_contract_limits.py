"""The wire contract's limits as a table an edge vendor could read: each one at its edge and one step past it.

These numbers are a promise to every edge device in the field. A change here is a contract change
(a new schema version), so each limit is written down here, not read back from the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from services.contracts import ResultEnvelope, canonical_json, derive_signing_key, encode_message, make_result_id
from services.contracts.result import Box, CellResult, Grid, ImageRef, ModelRef
from services.contracts.signing import MAX_BODY_BYTES, SignatureError, decode_message, encode_body
from tests.support.factories import make_envelope

Change = Callable[[dict[str, Any]], None]


def _ok_env() -> dict[str, Any]:
    return json.loads(make_envelope("edge-t1", 1)[0].model_dump_json())  # i=1 is an OK string


def _error_env(**extra: Any) -> dict[str, Any]:
    d = _ok_env()
    d.update(verdict="ERROR", cells=[], error="segmentation: gaps not found", **extra)
    return d


def _set(*path: str | int, value: Any) -> Change:
    def change(d: dict[str, Any]) -> None:
        target: Any = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _cell(**changes: Any) -> Change:
    def change(d: dict[str, Any]) -> None:
        d["cells"][0].update(changes)

    return change


# (what, envelope factory, change at the limit (accepted), change one past it (refused))
ENVELOPE_LIMITS: list[tuple[str, Callable[[], dict[str, Any]], Change, Change]] = [
    ("station id 1..40 chars", _ok_env, _set("station_id", value="S" * 40), _set("station_id", value="S" * 41)),
    ("station id not empty", _ok_env, _set("station_id", value="S"), _set("station_id", value="")),
    ("recipe 1..60 chars", _ok_env, _set("recipe", value="r" * 60), _set("recipe", value="r" * 61)),
    ("recipe not empty", _ok_env, _set("recipe", value="r"), _set("recipe", value="")),
    ("model name 1..100", _ok_env, _set("model", "name", value="m" * 100), _set("model", "name", value="m" * 101)),
    ("model name not empty", _ok_env, _set("model", "name", value="m"), _set("model", "name", value="")),
    ("model version 1..50", _ok_env, _set("model", "version", value="v" * 50), _set("model", "version", value="v" * 51)),
    ("model version not empty", _ok_env, _set("model", "version", value="v"), _set("model", "version", value="")),
    (
        "content type up to 50",
        _ok_env,
        _set("image", "content_type", value="c" * 50),
        _set("image", "content_type", value="c" * 51),
    ),
    ("size in bytes not negative", _ok_env, _set("image", "size_bytes", value=0), _set("image", "size_bytes", value=-1)),
    ("width at least 1", _ok_env, _set("image", "width", value=1), _set("image", "width", value=0)),
    ("height at least 1", _ok_env, _set("image", "height", value=1), _set("image", "height", value=0)),
    ("bit depth 8 or 16", _ok_env, _set("image", "bit_depth", value=16), _set("image", "bit_depth", value=12)),
    (
        "timings: up to 20 stages",
        _ok_env,
        _set("timings_ms", value={f"s{i}": 1.0 for i in range(20)}),
        _set("timings_ms", value={f"s{i}": 1.0 for i in range(21)}),
    ),
    ("error up to 500 chars", _error_env, _set("error", value="e" * 500), _set("error", value="e" * 501)),
    (
        "an ERROR result lists at most 320 cells",
        _error_env,
        lambda d: None,
        lambda d: d.update(cells=[_ok_env()["cells"][0]] * 321),
    ),
    ("cell class 1..40", _ok_env, _cell(cls="c" * 40), _cell(cls="c" * 41)),
    ("cell class not empty", _ok_env, _cell(cls="ok"), _cell(cls="")),
    ("top class 1..40", _ok_env, _cell(top_class="t" * 40), _cell(top_class="t" * 41)),
    ("top class not empty", _ok_env, _cell(top_class="t"), _cell(top_class="")),
    ("score at most 1", _ok_env, _cell(score=1.0), _cell(score=1.01)),
    ("row at least 1", _ok_env, _cell(row=1), _cell(row=0)),
    ("col at least 1", _ok_env, _cell(col=1), _cell(col=0)),
    ("box x, y from 0", _ok_env, _cell(box={"x": 0, "y": 0, "w": 1, "h": 1}), _cell(box={"x": -1, "y": 0, "w": 1, "h": 1})),
    ("box y from 0", _ok_env, _cell(box={"x": 0, "y": 0, "w": 1, "h": 1}), _cell(box={"x": 0, "y": -1, "w": 1, "h": 1})),
    ("box w, h at least 1", _ok_env, _cell(box={"x": 0, "y": 0, "w": 1, "h": 1}), _cell(box={"x": 0, "y": 0, "w": 0, "h": 1})),
    ("box h at least 1", _ok_env, _cell(box={"x": 0, "y": 0, "w": 1, "h": 1}), _cell(box={"x": 0, "y": 0, "w": 1, "h": 0})),
]


@pytest.mark.parametrize("what, make, at_limit, past_limit", ENVELOPE_LIMITS, ids=[x[0] for x in ENVELOPE_LIMITS])
def test_each_limit_of_the_envelope(what: str, make: Callable[[], dict[str, Any]], at_limit: Change, past_limit: Change) -> None:
    ok = make()
    at_limit(ok)
    ResultEnvelope.model_validate(ok)
    bad = make()
    past_limit(bad)
    with pytest.raises(ValidationError):
        ResultEnvelope.model_validate(bad)


def test_string_position_and_grid_limits() -> None:
    """A string has positions 1..64; a grid is 1..8 rows by 1..40 columns."""
    for pos, ok in ((1, True), (64, True), (0, False), (65, False)):
        env, _ = make_envelope("edge-t1", 1)
        d = json.loads(env.model_dump_json())
        d["string_position"] = pos
        d["result_id"] = make_result_id(
            device_id=d["device_id"],
            barcode=d["barcode"],
            string_position=pos,
            stage=d["stage"],
            image_sha256=d["image"]["sha256"],
        )
        if ok:
            ResultEnvelope.model_validate(d)
        else:
            with pytest.raises(ValidationError):
                ResultEnvelope.model_validate(d)
    assert str(Grid(rows=8, cols=40)) == "8x40" and str(Grid(rows=1, cols=1)) == "1x1"
    for rows, cols in ((9, 1), (1, 41), (0, 1), (1, 0)):
        with pytest.raises(ValidationError):
            Grid(rows=rows, cols=cols)


def test_defaults_and_immutability() -> None:
    """A new envelope is v2; an image is uploaded unless said otherwise; envelopes cannot be changed after the fact."""
    d = _ok_env()
    del d["schema_version"]
    env = ResultEnvelope.model_validate(d)
    assert env.schema_version == 2 and encode_message(env, key_id="k1", key=b"k" * 32)["v"] == "2"
    ref = ImageRef(sha256="0" * 64, size_bytes=1, content_type="image/png")
    assert ref.uploaded is True
    frozen = (
        (env, "barcode"),
        (ref, "size_bytes"),
        (Box(x=0, y=0, w=1, h=1), "x"),
        (ModelRef(name="m", version="1", sha256="0" * 64), "name"),
    )
    for obj, field in frozen:
        with pytest.raises(ValidationError):
            setattr(obj, field, "changed")
    with pytest.raises(ValidationError, match="Extra inputs"):
        CellResult.model_validate({**_ok_env()["cells"][0], "colour": "red"})


def test_canonical_json_sorts_keys_and_keeps_unicode() -> None:
    """What the signature covers must be the same bytes on every edge: sorted keys, no spaces, UTF-8 as is."""
    d = _ok_env()
    d["recipe"] = "半片-2x12"
    body = canonical_json(ResultEnvelope.model_validate(d)).decode()
    assert body.startswith('{"barcode":') and ", " not in body and '": ' not in body
    assert "半片" in body and "\\u" not in body
    keys = list(json.loads(body))
    assert keys == sorted(keys)


KEY = derive_signing_key(b"server-secret", "edge-t1", "k1")


def _lookup(device: str, kid: str) -> bytes | None:
    return KEY if (device, kid) == ("edge-t1", "k1") else None


def test_message_size_limit_and_what_makes_a_message_unsigned() -> None:
    """Bodies up to 256 KiB are read; a missing key id or a missing signature is unsigned, either alone."""
    assert MAX_BODY_BYTES == 256 * 1024
    at_limit = {"v": "2", "body": "x" * MAX_BODY_BYTES}
    with pytest.raises(SignatureError, match="unsigned"):  # past the size check, stopped at the signature
        decode_message(at_limit, stream_device="edge-t1", key_lookup=_lookup)
    with pytest.raises(ValueError, match="too large"):
        decode_message({"v": "2", "body": "x" * (MAX_BODY_BYTES + 1)}, stream_device="edge-t1", key_lookup=_lookup)
    fields = encode_message(make_envelope("edge-t1", 1)[0], key_id="k1", key=KEY)
    for missing in ("kid", "sig"):
        partial = {k: v for k, v in fields.items() if k != missing}
        with pytest.raises(SignatureError, match="unsigned"):
            decode_message(partial, stream_device="edge-t1", key_lookup=_lookup)


def test_bad_json_and_bad_content_are_told_apart() -> None:
    """Signed bytes that are not JSON say so; JSON that breaks the contract names the field."""
    with pytest.raises(ValueError, match="body is not JSON"):
        decode_message(encode_body(b"{not json", key_id="k1", key=KEY), stream_device="edge-t1", key_lookup=_lookup)
    d = _ok_env()
    del d["barcode"]
    with pytest.raises(ValidationError, match="barcode"):
        decode_message(encode_body(json.dumps(d).encode(), key_id="k1", key=KEY), stream_device="edge-t1", key_lookup=_lookup)


def test_a_class_name_is_an_identifier_never_markup() -> None:
    """Pages and scripts show class names: only snake_case ASCII passes the contract (cls and top_class)."""
    import json

    from pydantic import ValidationError

    from services.contracts import ResultEnvelope
    from tests.support.factories import make_envelope

    env, _ = make_envelope("edge-t1", 0)
    for bad in ('<img src=x onerror="alert(1)">', "Crack", "dead-cell", "x" * 41, "", "1crack"):
        for field in ("cls", "top_class"):
            body = json.loads(env.model_dump_json())
            body["cells"][0][field] = bad
            with pytest.raises(ValidationError):
                ResultEnvelope.model_validate(body)
    body = json.loads(env.model_dump_json())
    body["cells"][0]["top_class"] = "finger_interruption"
    ResultEnvelope.model_validate(body)
