"""`eltrace bench metrics`: complaint PPM over 3 years of shipments (>= 10 M modules, 500 complaints) on PostgreSQL."""

from __future__ import annotations

import itertools
import os
import platform
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cli.benchqueries import _pct, _time
from cli.figures import wide

CUSTOMERS = 40
WO_SIZE = 5000


def _generate(url: str, n: int, complaints: int, console: Console) -> None:
    import psycopg

    t0 = datetime(2023, 12, 1, tzinfo=UTC)
    step = 3 * 365 * 86400 / n
    n_wo = (n + WO_SIZE - 1) // WO_SIZE
    steps = [
        (
            "products",
            """INSERT INTO product (code, series, cell_format, grid_rows, grid_cols, strings) VALUES
            ('P-HJT-210-66', 'HJT 210', '210 half-cut', 2, 11, 6), ('P-TOPCON-182-72', 'TOPCon 182', '182 half-cut', 2, 12, 6),
            ('P-HJT-210-60', 'HJT 210 full', '210 full', 1, 10, 6)""",
        ),
        (
            "work orders",
            f"""INSERT INTO work_order (code, product_code, factory, line, planned_qty, created_at)
            SELECT 'WO-' || lpad(w::text, 7, '0'), (ARRAY['P-HJT-210-66','P-TOPCON-182-72','P-HJT-210-60'])[1 + w % 3],
                   'F' || (1 + w % 3), 'L' || (1 + w % 9), {WO_SIZE}, %(t0)s FROM generate_series(1, {n_wo}) w""",
        ),
        (
            "modules",
            f"""INSERT INTO module (id, barcode, created_at, product_code, work_order_id, status, grade)
            SELECT i, 'M' || lpad(i::text, 10, '0'), %(t0)s + (i * {step}) * interval '1 second',
                   (ARRAY['P-HJT-210-66','P-TOPCON-182-72','P-HJT-210-60'])[1 + ((i - 1) / {WO_SIZE} + 1) % 3],
                   (i - 1) / {WO_SIZE} + 1, 'SHIPPED', 'A'
            FROM generate_series(1, {n}) i""",
        ),
        ("module id sequence", "SELECT setval(pg_get_serial_sequence('module', 'id'), (SELECT max(id) FROM module))"),
        (
            "shipments",
            f"""INSERT INTO shipment (module_id, customer, delivery_no, site, shipped_at, recorded_at)
            SELECT m.id, 'Customer-' || lpad((1 + (m.id / 600) % {CUSTOMERS})::text, 2, '0'), 'DN-' || (m.id / 600), '',
                   m.created_at + interval '7 days', m.created_at + interval '7 days' FROM module m""",
        ),
        (
            "complaints",
            f"""INSERT INTO complaint (number, customer, project, site, received_at, channel, symptom, severity,
              description, justified, judged_at, judged_by, judgement_reason, case_id, created_by, created_at)
            SELECT 'C-B-' || lpad(c::text, 5, '0'), 'Customer-' || lpad((1 + c % {CUSTOMERS})::text, 2, '0'), '', '',
                   %(t0)s + interval '40 days' + (c * (3 * 365 - 60) / {complaints}) * interval '1 day', 'email', 'cell_crack', 'major',
                   'generated', c % 5 <> 0, %(t0)s, 'qe', 'generated', NULL, 'bench', %(t0)s
            FROM generate_series(1, {complaints}) c""",
        ),
        (
            "complained modules (1-8 per complaint)",
            f"""INSERT INTO complaint_module (complaint_id, barcode, module_id)
            SELECT c.id, m.barcode, m.id FROM complaint c
            CROSS JOIN LATERAL generate_series(1, 1 + c.id % 8) k
            JOIN module m ON m.id = 1 + (abs(hashtext(c.id || ':' || k)) % {n})""",
        ),
        ("ANALYZE", "ANALYZE"),
    ]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        for name, sql in steps:
            t = time.perf_counter()
            conn.execute(re.sub(r"%(?!\()", "%%", sql), {"t0": t0})
            console.print(f"  {name}: {time.perf_counter() - t:.1f} s")


def bench_metrics(*, modules: int, complaints: int, samples: int, console: Console) -> None:
    """Generate, build the roll-up, then time PPM queries through the API against a straight GROUP BY baseline."""
    import httpx
    import psycopg

    from api.main import create_app
    from cli.servers.http import ServerThread, free_port
    from cli.servers.postgres import PostgresServer
    from services.core.db import make_engine, make_sessionmaker, transaction
    from services.core.settings import ApiSettings
    from services.metrics.ppm import rebuild_rollup
    from services.migrations.runner import upgrade
    from services.security.service import create_user

    console = wide(console)  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="eltrace-benchm-"))
    console.print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; PostgreSQL from the pgserver wheel"
    )
    pg = PostgresServer().init(durable=False).start()
    try:
        url = pg.create_database("benchm")
        upgrade(url)
        console.print(
            f"generating {modules:,} shipped modules over 3 years ({CUSTOMERS} customers, 3 products, 3 factories), "
            f"{complaints} complaints"
        )
        t = time.perf_counter()
        _generate(url, modules, complaints, console)
        sessions = make_sessionmaker(make_engine(url))
        t_roll = time.perf_counter()
        with transaction(sessions) as s:
            total = rebuild_rollup(s)
            create_user(session=s, username="qe", password="bench-password-0123", role="quality_engineer")
        console.print(
            f"  shipment roll-up rebuilt from {total:,} shipments: {time.perf_counter() - t_roll:.1f} s "
            f"(kept incrementally by every shipment import)"
        )
        console.print(f"  generation total {time.perf_counter() - t:.0f} s")
        settings = ApiSettings(profile="test", database_url=url, secret_key="bench-secret-" + "x" * 32, data_dir=tmp / "api")
        port = free_port()
        server = ServerThread(create_app(settings), "127.0.0.1", port)
        server.start_and_wait()
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        tok = http.post("/api/v1/auth/token", data={"username": "qe", "password": "bench-password-0123"}).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {tok}"
        raw = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        span = {"first": "2024-01", "last": "2026-11"}

        def api(group: str | None) -> None:
            r = http.get("/api/v1/metrics/ppm", params={**span, **({"group_by": group} if group else {})})
            assert r.status_code == 200 and r.json()["rows"], r.text

        def baseline() -> None:
            raw.execute("""SELECT to_char(s.shipped_at AT TIME ZONE 'UTC', 'YYYY-MM'), s.customer, m.product_code, count(*)
                           FROM shipment s JOIN module m ON m.id = s.module_id GROUP BY 1, 2, 3""").fetchall()

        api("customer")
        groups = itertools.cycle(["customer", "product", "factory", None])
        rows = http.get("/api/v1/metrics/ppm", params={**span, "group_by": "customer"}).json()
        results = {
            "PPM by month x customer, 35 months + rolling 12 (API)": _time(lambda: api("customer"), samples),
            "PPM by month x product series (API)": _time(lambda: api("product"), samples),
            "PPM by month, all groups in turn (API)": _time(lambda: api(next(groups)), samples),
            "  baseline: GROUP BY over the shipment table (denominator only, raw SQL)": _time(baseline, 3),
        }
        table = Table(title=f"complaint PPM on PostgreSQL: {modules:,} shipped modules, {complaints} complaints, 3 years")
        for c in ("query", "n", "p50 ms", "p95 ms", "max ms", "target"):
            table.add_column(c, justify="right" if c != "query" else "left")
        for k, (name, xs) in enumerate(results.items()):
            p50, p95, mx = _pct(xs)
            table.add_row(name, str(len(xs)), f"{p50:.1f}", f"{p95:.1f}", f"{mx:.1f}", "p95 < 300 ms" if k == 0 else "")
        console.print(table)
        last = [r for r in rows["rows"] if r["month"] == "2026-10"][:3]
        console.print(
            f"definition v{rows['definition_version']}; {len(rows['rows'])} rows; e.g. "
            + "; ".join(
                f"{r['group']} {r['month']}: {r['ppm'] if r['ppm'] is None else round(r['ppm'], 1)} ppm (12 m {round(r['rolling12_ppm'] or 0, 1)})"
                for r in last
            )
        )
        size = raw.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]  # type: ignore[index]
        from cli.bench import _peak_rss_mb

        console.print(f"database size {size}; peak RSS of the benchmark process (API + client): {_peak_rss_mb():.0f} MB")
        raw.close()
        server.stop()
    finally:
        pg.destroy()
