"""One row the database refuses: the others land at once, it is retried, and only then dead-lettered."""

from __future__ import annotations

import time

import redis

from services.contracts import encode_message
from services.contracts.signing import DEAD_LETTER_STREAM
from tests.conftest import Stack
from tests.support.factories import make_envelope
from tests.support.flow import consumer, pending, stored_ids, until


def test_a_row_the_database_refuses_is_retried_before_it_is_dead_lettered(stack: Stack) -> None:
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    dev, key, kid = stack.device.device_id, stack.signing_key, stack.device.key_id
    good = [make_envelope(dev, i)[0] for i in range(3)]
    env = make_envelope(dev, 100)[0]
    # Valid for the contract, refused by the database: an image width no integer column holds (a buggy edge).
    refused = env.model_copy(update={"image": env.image.model_copy(update={"width": 2**70})})
    for e in (good[0], refused, good[1], good[2]):
        r.xadd(f"results:{dev}", encode_message(e, key_id=kid, key=key))
    con = consumer(stack, max_deliveries=3, claim_idle_ms=100)
    con.step(block_ms=10)
    # The good ones land in the first pass; the refused one waits for another try (not dead on its first failure).
    assert stored_ids(stack) == {e.result_id for e in good}
    assert r.xlen(DEAD_LETTER_STREAM) == 0 and pending(stack) == 1
    until(lambda: r.xlen(DEAD_LETTER_STREAM) == 1, timeout_s=30, step=lambda: con.step(block_ms=10), what="dead letter")
    ((_, fields),) = r.xrange(DEAD_LETTER_STREAM)
    assert (
        "database refused it" in fields["reason"]
        and "failed 3 deliveries" in fields["reason"]
        and refused.result_id in fields["f_body"]
    )
    assert pending(stack) == 0 and stored_ids(stack) == {e.result_id for e in good}


def test_takeover_follows_the_claim_cursor_past_entries_that_keep_failing(stack: Stack) -> None:
    """A dead consumer leaves 100 entries the database refuses, then 250 good ones, all pending. The survivor
    claims page after page (the XAUTOCLAIM cursor is followed): the good ones land long before the failing
    ones use up their deliveries, instead of the first page being claimed again and again."""
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    dev, key, kid = stack.device.device_id, stack.signing_key, stack.device.key_id
    stream = f"results:{dev}"
    for i in range(100):
        env = make_envelope(dev, 1000 + i)[0]
        bad = env.model_copy(update={"image": env.image.model_copy(update={"width": 2**70})})
        r.xadd(stream, encode_message(bad, key_id=kid, key=key))
    good = set()
    for i in range(250):
        env = make_envelope(dev, i)[0]
        good.add(env.result_id)
        r.xadd(stream, encode_message(env, key_id=kid, key=key))
    r.xgroup_create(stream, "ingest", id="0")
    r.xreadgroup("ingest", "dead-consumer", {stream: ">"}, count=1000)  # read, never acknowledged: it died
    survivor = consumer(stack, "survivor", batch_size=100, claim_idle_ms=100, max_deliveries=50)
    time.sleep(0.15)
    for _ in range(6):
        survivor.step(block_ms=10)
    assert stored_ids(stack) == good
    assert r.xlen(DEAD_LETTER_STREAM) == 0 and pending(stack) == 100  # the failing ones are still being retried


def test_a_result_id_redelivered_with_other_content_is_dead_lettered_not_dropped(stack: Stack) -> None:
    """The same capture always has the same result_id: another verdict under it is a second judgement or a forgery."""
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    dev, key, kid = stack.device.device_id, stack.signing_key, stack.device.key_id
    env = make_envelope(dev, 7)[0]  # result 7 is NG
    assert env.verdict == "NG"
    again = make_envelope(dev, 7)[0]  # a true redelivery: the same content
    flipped = make_envelope(dev, 7, ng_cell=False)[0]  # the same capture, judged OK
    assert flipped.result_id == env.result_id and flipped.verdict == "OK"
    for e in (env, again, flipped):
        r.xadd(f"results:{dev}", encode_message(e, key_id=kid, key=key))
    con = consumer(stack)
    until(
        lambda: pending(stack) == 0 and r.xlen(DEAD_LETTER_STREAM) == 1,
        timeout_s=20,
        step=lambda: con.step(block_ms=10),
        what="flow",
    )
    assert stored_ids(stack) == {env.result_id}
    reason = r.xrange(DEAD_LETTER_STREAM)[0][1]["reason"]
    assert "different content" in reason and "stored NG" in reason and "this one OK" in reason


def test_a_dead_letter_copy_keeps_the_contract_fields_and_caps_the_rest() -> None:
    from services.ingest.consumer import _kept_fields

    fields = {b"v": b"2", b"kid": b"k", b"sig": b"s", b"body": b"x" * 200_000}
    fields.update({f"junk{i}".encode(): b"y" * 5000 for i in range(20_000)})
    kept = _kept_fields(fields)
    assert kept[b"f_body"] == b"x" * 200_000 and kept[b"f_v"] == b"2"
    assert len(kept) == 4 + 8 + 1 and kept[b"fields_dropped"] == b"19992"
    assert all(len(v) <= 1024 for k, v in kept.items() if k.startswith(b"f_junk"))
