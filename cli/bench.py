"""Benchmarks that print figures (`eltrace bench ...`). Each compares against a named baseline in the same run."""

from __future__ import annotations

import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import redis
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from cli.servers.redis import RedisServer
from services.contracts import decode_fields, encode_message
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import IngestSettings
from services.devices.service import provision_device
from services.ingest.consumer import IngestConsumer
from services.inspection.repository import count_inspections
from services.migrations.runner import upgrade

SECRET = "bench-secret-0123456789abcdef-0123456789"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup_db(url: str) -> tuple[object, bytes, str]:
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with transaction(sessions) as s:
        cred = provision_device(session=s, code="edge-bench", station_code="STR-EL-01", master_secret=SECRET.encode())
    return sessions, bytes.fromhex(cred.signing_key_hex), cred.key_id


def _envelopes(n: int, start: int, key: bytes, kid: str) -> list[tuple[str, dict[str, str]]]:
    from cli.benchdata import make_envelope

    out = []
    for i in range(start, start + n):
        env, _png = make_envelope("edge-bench", i)
        out.append((env.result_id, encode_message(env, key_id=kid, key=key)))
    return out


def _throughput(url: str, redis_url: str, n: int, batch: int) -> float:
    sessions, key, kid = _setup_db(url)
    r = redis.Redis.from_url(redis_url)
    r.flushall()
    msgs = _envelopes(n, 0, key, kid)
    pipe = r.pipeline(transaction=False)
    for _rid, fields in msgs:
        pipe.xadd("results:edge-bench", fields)
    pipe.execute()
    con = IngestConsumer(
        redis_url=redis_url,
        session_factory=sessions,
        master_secret=SECRET.encode(),
        settings=IngestSettings(
            profile="test", database_url=url, redis_url=redis_url, secret_key=SecretStr(SECRET), batch_size=batch, block_ms=10
        ),
    )
    con.step(block_ms=1)  # discovery and key directory are start-up, not throughput
    t0 = time.perf_counter()
    done = 0
    while done < n:
        con.step(block_ms=10)
        done = con.stats.inserted + con.stats.duplicates
    elapsed = time.perf_counter() - t0
    with transaction(sessions) as s:  # type: ignore[arg-type]
        assert count_inspections(s) >= n
    return (n - 0) / elapsed


def _steady_latency(url: str, redis_url: str, rate: int, seconds: int) -> tuple[list[float], int]:
    sessions, key, kid = _setup_db(url)
    r = redis.Redis.from_url(redis_url)
    r.flushall()
    # Ids apart from the throughput runs', captures still in the past (T0 + ~12 days): ingest refuses captures
    # from its future, and the run would time dead-lettering instead of storing.
    msgs = _envelopes(rate * seconds, 1_000_000, key, kid)
    sent_at: dict[str, float] = {}
    lat: list[float] = []
    stop = threading.Event()

    def after_commit(entries: list[tuple[str, str, dict[str, str]]]) -> None:
        now = time.perf_counter()
        import json

        for _s, _id, fields in entries:
            rid = json.loads(decode_fields(fields)["body"])["result_id"]  # the consumer hands Redis's bytes on
            if rid in sent_at:
                lat.append(now - sent_at[rid])

    con = IngestConsumer(
        redis_url=redis_url,
        session_factory=sessions,
        master_secret=SECRET.encode(),
        settings=IngestSettings(
            profile="test",
            database_url=url,
            redis_url=redis_url,
            secret_key=SecretStr(SECRET),
            batch_size=500,
            block_ms=100,
            discover_every_s=0.2,
        ),
        after_commit=after_commit,
    )
    r.xadd("results:edge-bench", msgs[0][1])  # creates the stream so the consumer finds it
    sent_at[msgs[0][0]] = time.perf_counter()
    t = threading.Thread(target=con.run, args=(stop,), daemon=True)
    t.start()
    time.sleep(1.0)
    t0 = time.perf_counter()
    for i, (rid, fields) in enumerate(msgs[1:], start=1):
        target = t0 + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent_at[rid] = time.perf_counter()
        r.xadd("results:edge-bench", fields)
    deadline = time.monotonic() + 30
    while len(lat) < len(msgs) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    with transaction(sessions) as s:  # type: ignore[arg-type]
        stored = count_inspections(s)
    if stored != len(msgs):
        raise RuntimeError(f"latency run stored {stored} of {len(msgs)} results: the figures would not be of storing")
    return lat, len(msgs)


def bench_ingest(*, results: int, rate: int, seconds: int, postgres: bool, console: Console) -> None:
    """Throughput by batch size on SQLite and PostgreSQL, then latency at a steady rate."""
    import os
    import platform

    tmp = Path(tempfile.mkdtemp(prefix="eltrace-bench-"))
    rs = RedisServer(tmp / "redis", appendonly=True).start()
    dbs: dict[str, object] = {}
    pg = None
    dbs["sqlite"] = lambda name: f"sqlite:///{tmp / (name + '.db')}"
    if postgres:
        from cli.servers.postgres import PostgresServer

        pg = PostgresServer().init(durable=True).start()  # fsync on: figures a factory can trust
        dbs["postgresql"] = lambda name: pg.create_database(name)
    console.print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Redis {rs.url} (AOF everysec)")
    table = Table(title="ingest throughput: XADD backlog of N signed results -> committed rows (results/s)")
    table.add_column("database")
    table.add_column("batch 1 (baseline: one transaction per result)", justify="right")
    table.add_column("batch 100", justify="right")
    table.add_column("batch 1000", justify="right")
    try:
        for name, make in dbs.items():
            row = [name]
            for batch in (1, 100, 1000):
                n = min(results, 1000) if batch == 1 else results
                tput = _throughput(make(f"tp_{batch}"), rs.url, n, batch)  # type: ignore[operator]
                row.append(f"{tput:,.0f}  (N={n})")
            table.add_row(*row)
        console.print(table)
        lat_table = Table(title=f"end-to-end latency at a steady {rate} results/s for {seconds} s (XADD -> commit)")
        for c in ("database", "results", "p50 ms", "p99 ms", "max ms"):
            lat_table.add_column(c, justify="right")
        for name, make in dbs.items():
            lat, n = _steady_latency(make("lat"), rs.url, rate, seconds)  # type: ignore[operator]
            a = np.array(lat) * 1000
            lat_table.add_row(
                name, f"{len(lat)}/{n}", f"{np.percentile(a, 50):.1f}", f"{np.percentile(a, 99):.1f}", f"{a.max():.1f}"
            )
        console.print(lat_table)
        console.print(f"peak RSS of the benchmark process: {_peak_rss_mb():.0f} MB")
    finally:
        rs.stop()
        if pg is not None:
            pg.destroy()
