"""`eltrace bench events`: committed change -> acknowledged webhook, one receiver and ten, latency at a steady
rate against the bare HTTP round trip, and the MES gate at 1 M modules (PostgreSQL from the pgserver wheel)."""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

TARGET_EVENTS_S = 1000
TARGET_P99_S = 1.0
TARGET_GATE_P99_MS = 20.0
MASTER = b"bench-events-master-secret-0123456789"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pcts(samples_s: list[float]) -> tuple[float, float, float]:
    a = np.array(samples_s) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


class _Receiver:
    """A receiver process (cli.servers.receiver): signatures verified, ids counted once, arrival times kept."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        cmd = [sys.executable, "-m", "cli.servers.receiver", str(self.port), key_id, secret]
        self.proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1])
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("bench receiver did not start")

    def stats(self, *, arrivals: bool = False) -> dict[str, Any]:
        path = "arrivals" if arrivals else "stats"
        return httpx.get(f"http://127.0.0.1:{self.port}/{path}", timeout=30).json()  # type: ignore[no-any-return]

    def unique(self) -> int:
        return int(self.stats()["unique"])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _payload(i: int) -> dict[str, Any]:
    """The shape of a result.stored event (one NG cell, a picture reference): ~600 bytes of JSON."""
    return {
        "result_id": str(uuid.uuid4()),
        "barcode": f"JT26W48{i // 6:05d}",
        "station": "STR-EL-01",
        "string_position": i % 6 + 1,
        "stage": "string_el",
        "verdict": "NG" if i % 7 == 0 else "OK",
        "model": {"name": "el-cell-classifier", "version": "2.2.0-int8", "sha256": "0" * 64},
        "captured_at": datetime.now(UTC).isoformat(),
        "cells": [{"row": 1, "col": 3, "class": "crack", "score": 0.97, "decision": "NG"}] if i % 7 == 0 else [],
        "picture": {"sha256": f"{i:064x}"},
        "overlay": None,
    }


def _emit(sessions: sessionmaker[Session], n: int, per_tx: int = 1000) -> None:
    from services.core.db import transaction
    from services.events.schemas import EventType
    from services.events.service import emit_many

    for start in range(0, n, per_tx):
        with transaction(sessions) as s:
            emit_many(
                session=s,
                events=[
                    (EventType.RESULT_STORED, _payload(i)["barcode"], _payload(i), None)
                    for i in range(start, min(n, start + per_tx))
                ],
            )


def _subscribe(sessions: sessionmaker[Session], name: str) -> _Receiver:
    """A subscriber and its receiver process (the receiver learns the secret the way an admin hands it over)."""
    from services.core.db import transaction
    from services.events.schemas import SubscriberCreate, SubscriberUpdate
    from services.events.service import create_subscriber, update_subscriber

    with transaction(sessions) as s:
        spec = SubscriberCreate.model_validate({"name": name, "url": "http://127.0.0.1:9/placeholder", "batch_size": 100})
        out = create_subscriber(session=s, spec=spec, master_secret=MASTER, actor="bench")
    rec = _Receiver(out.key_id, out.secret)  # the secret reaches the receiver as an admin would hand it over
    with transaction(sessions) as s:
        change = SubscriberUpdate.model_validate({"url": rec.url})
        update_subscriber(session=s, subscriber_id=out.subscriber.id, change=change, actor="bench")
    return rec


def _drop_subscribers(sessions: sessionmaker[Session]) -> None:
    from services.core.db import transaction
    from services.events.service import delete_subscriber, list_subscribers

    with transaction(sessions) as s:
        for sub in list_subscribers(session=s):
            delete_subscriber(session=s, subscriber_id=sub.id, actor="bench")


def _wait(receivers: list[_Receiver], n: int, timeout_s: float) -> float:
    """Seconds until every receiver holds n unique events."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if all(r.unique() >= n for r in receivers):
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise RuntimeError(f"not every receiver got {n} events within {timeout_s:.0f} s")


def _throughput(sessions: sessionmaker[Session], n: int, receivers: int) -> dict[str, float]:
    """n committed events, then the deliverer starts: time until every receiver acknowledged all of them."""
    from services.events.delivery import Deliverer, DeliverySettings

    _drop_subscribers(sessions)
    recs = [_subscribe(sessions, f"R{k:02d}-{receivers}") for k in range(receivers)]
    _emit(sessions, n)
    stop = threading.Event()
    deliverer = Deliverer(sessions, DeliverySettings(master_secret=MASTER, poll_s=0.02), workers=min(receivers, 10))
    t = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
    t.start()
    try:
        elapsed = _wait(recs, n, timeout_s=600)
    finally:
        stop.set()
        t.join(10)
        doubled = sum(r.stats()["events"] - n for r in recs)
        for r in recs:
            r.stop()
    return {
        "events": n,
        "receivers": receivers,
        "seconds": elapsed,
        "per_receiver": n / elapsed,
        "total": n * receivers / elapsed,
        "copies_beyond_once": doubled,
    }


def _latency(sessions: sessionmaker[Session], rate: int, seconds: float) -> tuple[list[float], int]:
    """Commit one event every 1/rate s in its own transaction; latency = receiver arrival - commit."""
    from services.core.db import transaction
    from services.events.delivery import Deliverer, DeliverySettings
    from services.events.schemas import EventType
    from services.events.service import emit

    _drop_subscribers(sessions)
    rec = _subscribe(sessions, "LAT")
    stop = threading.Event()
    deliverer = Deliverer(sessions, DeliverySettings(master_secret=MASTER, poll_s=0.02), workers=2)
    t = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
    t.start()
    committed: dict[str, float] = {}
    n = int(rate * seconds)
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        with transaction(sessions) as s:
            eid = emit(session=s, type=EventType.RESULT_STORED, subject=f"LAT{i:07d}", data=_payload(i))
        committed[eid] = time.time()
    try:
        _wait([rec], n, timeout_s=120)
        arrivals = rec.stats(arrivals=True)["arrivals"]
    finally:
        stop.set()
        t.join(10)
        rec.stop()
    return [arrivals[e] - c for e, c in committed.items() if e in arrivals], n


def _bare_http(samples: int) -> dict[str, list[float]]:
    """The floor: signed POSTs of one event and of 100 events straight to a receiver, keep-alive."""
    from services.events.signing import sign

    secret = "bare-http-secret"
    rec = _Receiver("kbare", secret)
    out: dict[str, list[float]] = {"one": [], "batch": []}
    try:
        with httpx.Client(timeout=10) as http:
            for kind, size in (("one", 1), ("batch", 100)):
                for j in range(samples):
                    events = [{"id": str(uuid.uuid4()), "data": _payload(j * size + k)} for k in range(size)]
                    body = json.dumps(events if size > 1 else events[0]).encode()
                    headers = {"Content-Type": "application/json", "Eltrace-Signature": sign(body, {"kbare": secret})}
                    t = time.perf_counter()
                    r = http.post(rec.url, content=body, headers=headers)
                    out[kind].append(time.perf_counter() - t)
                    assert r.status_code == 204, r.status_code
    finally:
        rec.stop()
    return out


def _gate(url: str, modules: int, samples: int, console: Console) -> dict[str, list[float]]:
    """The gate over HTTP (MES key) on a generated 1 M-module history; baseline: /healthz on the same server."""
    from api.main import create_app
    from cli.benchqueries import _generate
    from cli.servers.http import ServerThread, free_port
    from services.core.db import make_engine, make_sessionmaker, transaction
    from services.core.settings import ApiSettings
    from services.devices.service import provision_device
    from services.migrations.runner import upgrade

    upgrade(url)
    console.print(f"generating {modules:,} modules x 6 strings for the gate (one year of string EL, loops, shipments)")
    gen = _generate(url, modules, console)
    console.print(f"  generation total {sum(gen.values()):.0f} s")
    sessions = make_sessionmaker(make_engine(url))
    with transaction(sessions) as s:
        mes = provision_device(session=s, code="mes-bench", station_code="MES", master_secret=MASTER, role="mes")
    tmp = Path(tempfile.mkdtemp(prefix="eltrace-benchev-"))
    settings = ApiSettings(profile="test", database_url=url, secret_key="bench-secret-" + "x" * 32, data_dir=tmp / "api")
    port = free_port()
    server = ServerThread(create_app(settings), "127.0.0.1", port)
    server.start_and_wait()
    rng = random.Random(11)
    ops = ["layup", "lamination", "framing", "final_el", "packing", "shipping"]
    out: dict[str, list[float]] = {"gate": [], "floor": [], "block": []}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"X-Device-Key": mes.api_key}) as http:
            for _ in range(20):  # warm the pool and the caches the same way for both
                http.get("/healthz")
                http.get(f"/api/v1/gate/M{rng.randint(1, modules):010d}", params={"operation": "packing"})
            for _ in range(samples):
                bc = f"M{rng.randint(1, modules):010d}"
                t = time.perf_counter()
                r = http.get(f"/api/v1/gate/{bc}", params={"operation": rng.choice(ops)})
                dt = time.perf_counter() - t
                assert r.status_code == 200, r.text
                out["gate"].append(dt)
                if r.json()["decision"] == "BLOCK":
                    out["block"].append(dt)
                t = time.perf_counter()
                http.get("/healthz")
                out["floor"].append(time.perf_counter() - t)
    finally:
        server.stop()
    return out


def bench_events(*, events: int, rate: int, seconds: float, modules: int, samples: int, console: Console) -> None:
    """Run every part and print the tables (FigureConsole keeps them for --json)."""
    from cli.servers.postgres import PostgresServer
    from services.core.db import make_engine, make_sessionmaker
    from services.migrations.runner import upgrade

    console.print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; PostgreSQL from the pgserver wheel "
        "(fsync on); deliverer in this process, each receiver its own process"
    )
    pg = PostgresServer().init(durable=True).start()
    try:
        url = pg.create_database("benchev")
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url, pool_size=14, max_overflow=2))  # as `events deliver` sizes it
        bare = _bare_http(200)
        one = _throughput(sessions, events, 1)
        ten = _throughput(sessions, events, 10)
        lat, n_lat = _latency(sessions, rate, seconds)
        gate = _gate(pg.create_database("benchgate"), modules, samples, console) if modules else None
    finally:
        pg.stop()

    t = Table(title="events: committed change -> acknowledged webhook (batches of up to 100, signed)")
    for c in ("run", "events", "seconds", "events/s per receiver", "deliveries/s", "copies beyond once", "target"):
        t.add_column(c)
    for r in (one, ten):
        t.add_row(
            f"{r['receivers']:.0f} receiver(s)",
            f"{r['events']:.0f}",
            f"{r['seconds']:.2f}",
            f"{r['per_receiver']:.0f}",
            f"{r['total']:.0f}",
            f"{r['copies_beyond_once']:.0f}",
            f">= {TARGET_EVENTS_S} /s: {'met' if r['per_receiver'] >= TARGET_EVENTS_S else 'NOT met'}",
        )
    b50, b99, bmax = _pcts(bare["batch"])
    n_bare = 100 * len(bare["batch"])
    t.add_row("baseline: bare HTTP, 100 events per POST", str(n_bare), "", f"{100 / np.median(bare['batch']):.0f}", "", "", "")
    console.print(t)

    p50, p99, pmax = _pcts(lat)
    o50, o99, omax = _pcts(bare["one"])
    t2 = Table(title=f"latency at a steady {rate} events/s for {seconds:.0f} s (commit -> receiver has it)")
    for c in ("path", "n", "p50 ms", "p99 ms", "max ms", "target"):
        t2.add_column(c)
    t2.add_row(
        "outbox -> deliverer -> webhook",
        str(len(lat)),
        f"{p50:.1f}",
        f"{p99:.1f}",
        f"{pmax:.1f}",
        f"p99 < {TARGET_P99_S * 1000:.0f} ms: {'met' if p99 < TARGET_P99_S * 1000 else 'NOT met'}",
    )
    t2.add_row("baseline: bare HTTP round trip, one event", str(len(bare["one"])), f"{o50:.1f}", f"{o99:.1f}", f"{omax:.1f}", "")
    t2.add_row(
        "baseline: bare HTTP round trip, 100 events", str(len(bare["batch"])), f"{b50:.1f}", f"{b99:.1f}", f"{bmax:.1f}", ""
    )
    console.print(t2)
    if len(lat) != n_lat:
        console.print(f"[red]{n_lat - len(lat)} of {n_lat} latency events did not arrive[/]")

    g50 = g99 = None
    if gate:
        g50, g99, gmax = _pcts(gate["gate"])
        f50, f99, fmax = _pcts(gate["floor"])
        t3 = Table(title=f"gate at {modules:,} modules: GET /api/v1/gate/{{barcode}} with a MES key, random module and operation")
        for c in ("request", "n", "p50 ms", "p99 ms", "max ms", "target"):
            t3.add_column(c)
        t3.add_row(
            "gate (PASS or BLOCK; a BLOCK is recorded and published)",
            str(len(gate["gate"])),
            f"{g50:.1f}",
            f"{g99:.1f}",
            f"{gmax:.1f}",
            f"p99 < {TARGET_GATE_P99_MS:.0f} ms: {'met' if g99 < TARGET_GATE_P99_MS else 'NOT met'}",
        )
        if gate["block"]:
            k50, k99, kmax = _pcts(gate["block"])
            t3.add_row(
                "  of which BLOCK (writes gate_block + event)",
                str(len(gate["block"])),
                f"{k50:.1f}",
                f"{k99:.1f}",
                f"{kmax:.1f}",
                "",
            )
        t3.add_row(
            "baseline: GET /healthz on the same server", str(len(gate["floor"])), f"{f50:.1f}", f"{f99:.1f}", f"{fmax:.1f}", ""
        )
        console.print(t3)
    figures = getattr(console, "figures", None)
    if isinstance(figures, dict):
        figures.update(
            {
                "events_per_s_one_receiver": one["per_receiver"],
                "events_per_s_ten_receivers_each": ten["per_receiver"],
                "deliveries_per_s_ten_receivers": ten["total"],
                "latency_p50_ms": p50,
                "latency_p99_ms": p99,
                "bare_http_one_p50_ms": o50,
                "bare_http_batch_p50_ms": b50,
                "gate_p50_ms": g50,
                "gate_p99_ms": g99,
                "modules": modules,
            }
        )
