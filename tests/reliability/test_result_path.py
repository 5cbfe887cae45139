"""Nothing lost, nothing doubled: edge outbox -> Redis -> ingest -> database, on real servers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from cli.servers.redis import RedisServer
from edge.outbox import Outbox
from services.contracts import encode_message
from services.contracts.signing import DEAD_LETTER_STREAM, encode_body
from tests.conftest import SECRET, Stack, make_stack
from tests.support.factories import make_envelope
from tests.support.faults import ingest_env
from tests.support.flow import consequences, consumer, fill_outbox, pending, publisher, round_trip, spool_files, stored_ids, until

pytestmark = pytest.mark.reliability


def test_happy_path_2000_results_land_exactly_once(stack: Stack, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, stack.device.device_id, 2000)
    pub, con = publisher(stack, outbox), consumer(stack)

    def step() -> None:
        pub.publish_once()
        con.step(block_ms=20)
        pub.confirm_once()

    until(lambda: outbox.count() == 0, timeout_s=240, step=step, what="outbox to drain")
    assert stored_ids(stack) == produced
    assert con.stats.inserted == 2000 and con.stats.dead_lettered == 0
    assert pending(stack) == 0
    assert spool_files(outbox.path) == []


def test_broker_killed_twice_with_a_backlog_loses_nothing(broker_stack: Stack, tmp_path: Path) -> None:
    stack = broker_stack  # on Redis 6.2 and 7.0
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, stack.device.device_id, 2000)
    # No re-sending during the test: what survives must survive in Redis itself (AOF).
    pub = publisher(stack, outbox, resend_after_s=3600)
    until(lambda: not outbox.due(limit=1, resend_after_s=3600), timeout_s=120, step=pub.publish_once, what="backlog sent")
    r = redis.Redis.from_url(stack.redis.url)
    assert r.xlen(f"results:{stack.device.device_id}") == 2000  # consumer paused: all of it is backlog

    stack.redis.kill()
    stack.redis.start()
    con = consumer(stack)
    for _ in range(2):
        con.step(block_ms=10)  # part of the backlog is committed and acknowledged ...
    assert 0 < len(stored_ids(stack)) < 2000
    stack.redis.kill()  # ... and the broker dies again mid-way
    stack.redis.start()
    con = consumer(stack)
    until(lambda: len(stored_ids(stack)) >= 2000, timeout_s=120, step=lambda: con.step(block_ms=10), what="all rows")
    assert stored_ids(stack) == produced
    assert pending(stack) == 0
    until(lambda: outbox.count() == 0, timeout_s=60, step=pub.confirm_once, what="confirmations")


@pytest.fixture
def volatile_stack(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The stack on a Redis without persistence (AOF off, no snapshots): a restart loses everything."""
    volatile = RedisServer(tmp_path / "volatile", appendonly=False).start()
    st = make_stack(db_url, volatile, tmp_path)
    yield st
    for t in st.threads:
        t.stop()
    volatile.stop()


def test_negative_control_broker_without_persistence_and_no_confirmation_loses_results(
    volatile_stack: Stack, tmp_path: Path
) -> None:
    """The same crash with AOF off and fire-and-forget publishing must lose data: the test can fail."""
    st = volatile_stack
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, st.device.device_id, 500)
    pub = publisher(st, outbox, confirm=False)
    until(lambda: outbox.count() == 0, timeout_s=60, step=pub.publish_once, what="fire-and-forget send")
    st.redis.kill()
    st.redis.start()
    con = consumer(st)
    for _ in range(5):
        con.step(block_ms=10)
    lost = produced - stored_ids(st)
    assert len(lost) == 500, "a broker without persistence kept data: the chaos test would prove nothing"
    assert outbox.count() == 0  # and nothing is left at the edge to heal it


def test_end_to_end_confirmation_heals_a_broker_that_lost_everything(volatile_stack: Stack, tmp_path: Path) -> None:
    st = volatile_stack
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, st.device.device_id, 500)
    pub = publisher(st, outbox, resend_after_s=1.0)
    pub.publish_once()
    st.redis.kill()  # unread results gone with the broker
    st.redis.start()
    con = consumer(st)

    until(lambda: outbox.count() == 0, timeout_s=120, step=round_trip(pub, con), what="re-sent results to be confirmed")
    assert stored_ids(st) == produced


class Crash(Exception):
    pass


def test_consumer_dying_between_commit_and_ack_is_absorbed_without_duplicates(stack: Stack, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, stack.device.device_id, 300)
    pub = publisher(stack, outbox)
    pub.publish_once()

    def die(_entries: object) -> None:
        raise Crash("killed after commit, before XACK")

    a = consumer(stack, "ingest-a")
    a.after_commit = die
    with pytest.raises(Crash):
        a.step(block_ms=50)
    assert stored_ids(stack) == produced  # committed ...
    assert pending(stack) == 300  # ... but never acknowledged
    time.sleep(0.6)  # past claim_idle_ms: consumer b takes over the dead consumer's entries
    b = consumer(stack, "ingest-b")
    until(lambda: pending(stack) == 0, timeout_s=30, step=lambda: b.step(block_ms=10), what="redelivery")
    assert b.stats.duplicates == 300 and b.stats.inserted == 0
    assert len(stored_ids(stack)) == 300
    # The rework loop moved once per NG result too: redelivery doubled no loop (1 result in 7 is NG).
    assert consequences(stack) == (43, 43, 43)


def test_ingest_process_killed_repeatedly_mid_stream(stack: Stack, tmp_path: Path) -> None:
    """kill -9 of the real `eltrace ingest` process, three times, during a 3000-result backlog."""
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, stack.device.device_id, 3000)
    pub = publisher(stack, outbox, batch=1000)
    until(lambda: not outbox.due(limit=1, resend_after_s=3600), timeout_s=120, step=pub.publish_once, what="backlog")
    env = ingest_env(stack, tmp_path, ELTRACE_CLAIM_IDLE_MS="300")
    cmd = [sys.executable, "-m", "cli.main", "ingest"]
    root = Path(__file__).resolve().parents[2]
    for kill in range(4):
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kill < 3:
            before = len(stored_ids(stack))
            until(lambda before=before: len(stored_ids(stack)) > before + 200, timeout_s=60, what="progress before the kill")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        else:
            until(lambda: len(stored_ids(stack)) == 3000 and pending(stack) == 0, timeout_s=120, what="drain after kills")
            proc.terminate()
            proc.wait(10)
    assert stored_ids(stack) == produced
    assert consequences(stack) == (429, 429, 429)  # one loop per NG result, through three kill -9s


def test_poison_messages_go_to_dead_letter_and_the_rest_flows(stack: Stack, tmp_path: Path) -> None:
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    dev = stack.device.device_id
    stream = f"results:{dev}"
    key, kid = stack.signing_key, stack.device.key_id
    good = []
    for i in range(20):
        env, _png = make_envelope(dev, i)
        good.append(env.result_id)
        r.xadd(stream, encode_message(env, key_id=kid, key=key))
    env, _ = make_envelope(dev, 999)
    body = json.loads(env.model_dump_json())
    missing = dict(body)
    del missing["barcode"]
    other = make_envelope("edge-other", 5)[0]
    poison = {
        "bad json": encode_body(b"{not json", key_id=kid, key=key),
        "wrong version": {**encode_message(env, key_id=kid, key=key), "v": "99"},
        "missing field": encode_body(json.dumps(missing).encode(), key_id=kid, key=key),
        "unsigned": {"v": "1", "body": env.model_dump_json()},
        "forged": {
            **encode_message(env, key_id=kid, key=b"not-the-device-key"),
        },
        "other device": encode_message(other, key_id=kid, key=key),
    }
    for fields in poison.values():
        r.xadd(stream, fields)
    con = consumer(stack)
    until(
        lambda: pending(stack) == 0 and len(stored_ids(stack)) == 20,
        timeout_s=30,
        step=lambda: con.step(block_ms=10),
        what="flow",
    )
    assert stored_ids(stack) == set(good)
    dead = r.xrange(DEAD_LETTER_STREAM)
    reasons = [f["reason"] for _id, f in dead]
    assert len(dead) == len(poison)
    for expected in (
        "not JSON",
        "unsupported schema version",
        "barcode",
        "unsigned",
        "signature does not match",
        "claiming device",
    ):
        assert any(expected in reason for reason in reasons), (expected, reasons)


@pytest.mark.postgres
def test_database_outage_holds_acks_and_everything_lands_after(pg_durable, redis_server: RedisServer, tmp_path: Path) -> None:
    pg_server = pg_durable
    url = pg_server.create_database("outage")
    from services.migrations.runner import upgrade

    upgrade(url)
    st = make_stack(url, redis_server, tmp_path)
    try:
        outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
        produced = fill_outbox(outbox, st.device.device_id, 400)
        pub = publisher(st, outbox)
        pub.publish_once()
        st.sessions.kw["bind"].dispose()
        pg_server.stop()
        con = consumer(st)
        stop = threading.Event()
        t = threading.Thread(target=con.run, args=(stop,), daemon=True)
        t.start()
        time.sleep(3)
        assert con.stats.db_outages > 0
        r = redis.Redis.from_url(st.redis.url)
        info = r.xinfo_groups(f"results:{st.device.device_id}")[0]
        assert int(info["pending"]) + int(info.get("lag") or 0) == 400  # read maybe, acknowledged never
        pg_server.start()
        until(lambda: len(stored_ids(st)) == 400, timeout_s=60, what="rows after the outage")
        until(lambda: pending(st) == 0, timeout_s=30, what="acks after the outage")
        stop.set()
        t.join(10)
        assert stored_ids(st) == produced
    finally:
        for th in st.threads:
            th.stop()


def test_message_replayed_onto_another_devices_stream_is_dead_lettered(stack: Stack, tmp_path: Path) -> None:
    from services.core.db import transaction
    from services.devices.service import provision_device

    with transaction(stack.sessions) as s:
        provision_device(session=s, code="edge-t2", station_code="STR-EL-02", master_secret=SECRET.encode())
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    env, _ = make_envelope(stack.device.device_id, 42)
    genuine = encode_message(env, key_id=stack.device.key_id, key=stack.signing_key)
    r.xadd("results:edge-t2", genuine)  # a compromised station re-publishes another device's result as its own
    con = consumer(stack)
    until(lambda: r.xlen(DEAD_LETTER_STREAM) == 1, timeout_s=20, step=lambda: con.step(block_ms=10), what="dead letter")
    assert "unknown key" in r.xrange(DEAD_LETTER_STREAM)[0][1]["reason"]
    assert stored_ids(stack) == set()


def test_results_with_an_implausible_capture_time_are_dead_lettered(stack: Stack) -> None:
    """A station clock in 1970 or a year ahead would put results in the wrong shift, yield and PPM month."""
    from datetime import UTC, datetime, timedelta

    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    dev, key, kid = stack.device.device_id, stack.signing_key, stack.device.key_id
    good = make_envelope(dev, 1)[0]
    odd = [
        make_envelope(dev, 2)[0].model_copy(update={"captured_at": datetime(1970, 1, 1, tzinfo=UTC)}),
        make_envelope(dev, 3)[0].model_copy(update={"captured_at": datetime.now(UTC) + timedelta(days=400)}),
    ]
    for env in (good, *odd):
        r.xadd(f"results:{dev}", encode_message(env, key_id=kid, key=key))
    con = consumer(stack)
    until(
        lambda: r.xlen(DEAD_LETTER_STREAM) == 2 and pending(stack) == 0,
        timeout_s=20,
        step=lambda: con.step(block_ms=10),
        what="flow",
    )
    assert stored_ids(stack) == {good.result_id}
    assert all("implausible" in f["reason"] for _, f in r.xrange(DEAD_LETTER_STREAM))


def test_a_device_publishing_for_another_station_is_dead_lettered(stack: Stack) -> None:
    """A device is held to the station it was registered at (and so to its line): a line-1 station's results
    must not appear to line-2 operators and vanish from line 1."""
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    dev, key, kid = stack.device.device_id, stack.signing_key, stack.device.key_id
    own = make_envelope(dev, 1)[0]
    other = make_envelope(dev, 2, station="STR-EL-77")[0]  # signed by the right device, claiming another station
    for env in (own, other):
        r.xadd(f"results:{dev}", encode_message(env, key_id=kid, key=key))
    con = consumer(stack)
    until(
        lambda: r.xlen(DEAD_LETTER_STREAM) == 1 and pending(stack) == 0,
        timeout_s=20,
        step=lambda: con.step(block_ms=10),
        what="flow",
    )
    assert stored_ids(stack) == {own.result_id}
    assert "station mismatch" in r.xrange(DEAD_LETTER_STREAM)[0][1]["reason"]


def test_key_rotation_loses_nothing_in_the_outbox(stack: Stack, tmp_path: Path) -> None:
    from services.core.db import transaction
    from services.devices.service import rotate_key

    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, stack.device.device_id, 300)
    old = publisher(stack, outbox, batch=100)
    old.publish_once()  # 100 sent with the old key, 200 still queued
    with transaction(stack.sessions) as s:
        new_cred = rotate_key(session=s, code=stack.device.device_id, master_secret=SECRET.encode())
    stack.device = new_cred  # the station switches to the new key; the queued bodies are signed at send time
    new = publisher(stack, outbox, batch=100)
    con = consumer(stack)

    def step() -> None:
        new.publish_once()
        con.step(block_ms=10)
        new.confirm_once()

    until(lambda: outbox.count() == 0, timeout_s=60, step=step, what="outbox drained after rotation")
    assert stored_ids(stack) == produced and con.stats.dead_lettered == 0
    with transaction(stack.sessions) as s:  # revoking the old key now leaves nothing unverifiable behind
        rotate_key(session=s, code=stack.device.device_id, master_secret=SECRET.encode(), revoke_old=True)


def test_v1_results_queued_before_the_upgrade_land_beside_v2_ones(stack: Stack, tmp_path: Path) -> None:
    """An edge upgraded with results still in Redis (framed v=1) and in its outbox (v1 bodies, re-sent framed
    v=2): every one lands once, with its decisions derived, next to the new v2 results."""
    r = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    dev, key, kid = stack.device.device_id, stack.signing_key, stack.device.key_id
    ids = set()
    for i in range(30):
        env, _ = make_envelope(dev, i, schema_version=1 if i < 20 else 2)
        fields = encode_message(env, key_id=kid, key=key)
        if i < 10:
            fields["v"] = "1"  # queued by the old edge
        r.xadd(f"results:{dev}", fields)
        ids.add(env.result_id)
    con = consumer(stack)
    until(lambda: len(stored_ids(stack)) == 30, timeout_s=30, step=lambda: con.step(block_ms=10), what="all land")
    assert stored_ids(stack) == ids and r.xlen(DEAD_LETTER_STREAM) == 0
    from sqlalchemy import func, select

    from services.core.db import transaction
    from services.inspection.orm import CellDefect, Inspection

    with transaction(stack.sessions) as s:
        versions = dict(s.execute(select(Inspection.schema_version, func.count()).group_by(Inspection.schema_version)).all())
        decisions = set(s.scalars(select(CellDefect.decision)).all())
    assert versions == {1: 20, 2: 10} and decisions == {"NG"}
