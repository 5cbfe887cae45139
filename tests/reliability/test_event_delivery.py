"""Webhook delivery against a real receiver process through outages, 500s, timeouts, restarts and kill -9
of the deliverer: every event arrives, is counted once per id, in order per module; refused events
are dead-lettered and replayed."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.core.db import make_engine, make_sessionmaker, transaction
from services.events.schemas import EventType, SubscriberCreate
from services.events.service import create_subscriber, emit
from services.migrations.runner import upgrade
from tests.conftest import SECRET

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """The receiver process, restartable on the same port."""

    def __init__(self, tmp: Path, key_id: str, secret: str) -> None:
        self.port, self.db, self.control = _port(), tmp / "receiver.db", tmp / "control.json"
        self.key_id, self.secret = key_id, secret
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "tests.support.receiver",
            str(self.port),
            str(self.db),
            self.key_id,
            self.secret,
            str(self.control),
        ]
        self.proc = subprocess.Popen(args, cwd=ROOT)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("receiver did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def behave(self, **ctl: object) -> None:
        self.control.write_text(json.dumps(ctl))

    def seen(self) -> list[tuple[str, str, str, int]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db) as c:
            return c.execute("SELECT id, subject, sequence, copies FROM seen ORDER BY rowid").fetchall()


def _deliverer(db_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ELTRACE_DATABASE_URL": db_url, "ELTRACE_SECRET_KEY": SECRET, "ELTRACE_PROFILE": "test"}
    return subprocess.Popen([sys.executable, "-m", "cli.main", "events", "deliver", "--poll-s", "0.02"], cwd=ROOT, env=env)


def _wait(pred, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_every_event_arrives_once_per_id_in_order_per_module_through_every_fault(sqlite_url: str, tmp_path: Path) -> None:
    upgrade(sqlite_url)
    sessions = make_sessionmaker(make_engine(sqlite_url))
    rcv = Receiver(tmp_path, "", "")
    with transaction(sessions) as s:
        spec = SubscriberCreate(name="mes", url=f"http://127.0.0.1:{rcv.port}/hook", batch_size=20, timeout_s=1.0)
        secret = create_subscriber(session=s, spec=spec, master_secret=SECRET.encode(), actor="test")
    rcv.key_id, rcv.secret = secret.key_id, secret.secret
    rcv.start()
    deliverer = _deliverer(sqlite_url)
    emitted: list[str] = []

    def produce(n: int) -> None:
        for i in range(n):
            with transaction(sessions) as s:  # one change, one commit, as the API and ingest do
                emitted.append(emit(session=s, type=EventType.LOOP_OPENED, subject=f"M{i % 7:03d}", data={"i": len(emitted)}))

    try:
        produce(60)
        assert _wait(lambda: len(rcv.seen()) >= 60), "healthy delivery"
        rcv.behave(status=500)  # answering 500s
        produce(40)
        time.sleep(1.5)
        rcv.behave(delay=2.5)  # slower than the 1 s timeout
        time.sleep(2.0)
        rcv.stop()  # down for a while
        produce(40)
        time.sleep(1.0)
        rcv.behave()
        rcv.start()  # back
        produce(40)
        deliverer.send_signal(signal.SIGKILL)  # killed mid-delivery
        deliverer.wait()
        produce(20)
        deliverer = _deliverer(sqlite_url)
        assert _wait(lambda: len(rcv.seen()) >= len(emitted), timeout=120), f"{len(rcv.seen())} of {len(emitted)} arrived"
    finally:
        deliverer.send_signal(signal.SIGTERM)
        deliverer.wait(timeout=20)
        rcv.stop()
    seen = rcv.seen()
    ids = [r[0] for r in seen]
    assert sorted(ids) == sorted(emitted)  # nothing lost, nothing invented; the receiver counts each id once
    by_subject: dict[str, list[str]] = {}
    for _id, subject, seq, _copies in seen:  # first arrival of each id, in arrival order
        by_subject.setdefault(subject, []).append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_subject.values()), "a module's events arrived out of order"


def test_a_refused_event_is_dead_lettered_the_rest_flow_and_replay_delivers_it(sqlite_url: str, tmp_path: Path) -> None:
    from sqlalchemy import select

    from services.events.delivery import Deliverer, DeliverySettings
    from services.events.orm import EventDeadLetter, EventSubscriber
    from services.events.service import replay

    upgrade(sqlite_url)
    sessions = make_sessionmaker(make_engine(sqlite_url))
    rcv = Receiver(tmp_path, "", "")
    with transaction(sessions) as s:
        spec = SubscriberCreate(name="mes", url=f"http://127.0.0.1:{rcv.port}/hook", batch_size=5, timeout_s=1.0)
        secret = create_subscriber(session=s, spec=spec, master_secret=SECRET.encode(), actor="test")
    rcv.key_id, rcv.secret = secret.key_id, "not-the-secret"  # every delivery fails verification: 401, refused for good
    rcv.start()
    d = Deliverer(sessions, DeliverySettings(master_secret=SECRET.encode()), workers=1)
    try:
        with transaction(sessions) as s:
            ids = [emit(session=s, type=EventType.HOLD_PLACED, subject="M1", data={"i": i}) for i in range(3)]
        d.step()
        with sessions() as s:
            dead = s.scalars(select(EventDeadLetter)).all()
            assert sorted(x.event_id for x in dead) == sorted(ids) and all(x.status == 401 for x in dead)
            assert s.scalars(select(EventSubscriber)).one().cursor == 3  # the rest may flow
        rcv.stop()
        rcv.secret = secret.secret  # the receiver is fixed
        rcv.start()
        with transaction(sessions) as s:
            assert replay(session=s, subscriber_id=1, ids=None, actor="admin") == 3
        d.step()
        assert sorted(r[0] for r in rcv.seen()) == sorted(ids)
        with sessions() as s:
            assert all(x.replayed_at is not None for x in s.scalars(select(EventDeadLetter)))
    finally:
        rcv.stop()


def _api(db_url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ELTRACE_DATABASE_URL": db_url,
        "ELTRACE_SECRET_KEY": SECRET,
        "ELTRACE_PROFILE": "test",
        "ELTRACE_DATA_DIR": str(data_dir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert _wait(lambda: _up(port), timeout=60), "API did not start"
    return proc


def _up(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_killing_the_api_mid_stream_loses_no_acknowledged_change_and_no_event(sqlite_url: str, tmp_path: Path) -> None:
    """Gate BLOCKs (a change and its event, one transaction) from 4 MES clients while the API is killed -9."""
    import threading

    import httpx
    from sqlalchemy import func, select

    from services.devices.service import provision_device
    from services.events.orm import OutboxEvent
    from services.gate.orm import GateBlock

    sessions = make_sessionmaker(make_engine(sqlite_url))
    rcv = Receiver(tmp_path, "", "")
    with transaction(sessions) as s:
        spec = SubscriberCreate(name="mes", url=f"http://127.0.0.1:{rcv.port}/hook", batch_size=50, timeout_s=2.0)
        secret = create_subscriber(session=s, spec=spec, master_secret=SECRET.encode(), actor="test")
        key = provision_device(session=s, code="mes-1", station_code="MES", master_secret=SECRET.encode(), role="mes").api_key
    rcv.key_id, rcv.secret = secret.key_id, secret.secret
    rcv.start()
    deliverer = _deliverer(sqlite_url)
    port = _port()
    api = _api(sqlite_url, port, tmp_path / "api")
    acknowledged: list[str] = []
    unanswered: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(k: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Device-Key": key}, timeout=5) as http:
            i = 0
            while not stop.is_set():
                barcode = f"K{k}{i:07d}"  # unknown: every answer is a BLOCK, recorded and published
                i += 1
                try:
                    r = http.get(f"/api/v1/gate/{barcode}", params={"operation": "layup"})
                except httpx.HTTPError:
                    with lock:
                        unanswered.append(barcode)
                    time.sleep(0.05)
                    continue
                if r.status_code == 200 and r.json()["decision"] == "BLOCK":
                    with lock:
                        acknowledged.append(barcode)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    try:
        for t in threads:
            t.start()
        assert _wait(lambda: len(acknowledged) >= 100), "the API answered"
        api.send_signal(signal.SIGKILL)  # mid-stream: requests in flight, transactions open
        api.wait()
        time.sleep(0.5)
        api = _api(sqlite_url, port, tmp_path / "api")
        n = len(acknowledged)
        assert _wait(lambda: len(acknowledged) >= n + 100), "the API answered again after the restart"
        stop.set()
        for t in threads:
            t.join(10)
        with sessions() as s:
            total = s.scalar(select(func.count()).select_from(OutboxEvent))
        assert _wait(lambda: len(rcv.seen()) >= (total or 0), timeout=120), "every event reached the receiver"
    finally:
        stop.set()
        api.send_signal(signal.SIGKILL)
        api.wait()
        deliverer.send_signal(signal.SIGTERM)
        deliverer.wait(timeout=20)
        rcv.stop()
    with sessions() as s:
        blocks = list(s.scalars(select(GateBlock.barcode)))
        events = s.execute(select(OutboxEvent.id, OutboxEvent.subject)).all()
    assert unanswered, "the kill hit requests in flight (otherwise this test proves nothing)"
    assert set(acknowledged) <= set(blocks)  # every acknowledged change is in the database
    assert len(blocks) == len(set(blocks))  # once
    assert sorted(subject for _, subject in events) == sorted(blocks)  # each change has its event, and no event is orphaned
    assert sorted(r[0] for r in rcv.seen()) == sorted(eid for eid, _ in events)  # each event delivered, counted once per id
