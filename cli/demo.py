"""`eltrace demo`: the whole result path on this machine, fed with generated string EL images."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cli.events import picture_url_fn
from cli.model import register_folder
from cli.runtime import models_root
from cli.servers.http import ServerThread, free_port, port_free
from cli.servers.redis import RedisServer
from edge.settings import EdgeSettings
from edge.training.synthetic import generate_string, write_string
from edge.wiring import build_edge
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.logging import configure_logging
from services.core.settings import ApiSettings, IngestSettings
from services.devices.service import provision_device
from services.events.delivery import Deliverer, DeliverySettings
from services.events.orm import OutboxEvent
from services.imagestore.store import DirectoryBlobStore
from services.imports.rows import import_rows
from services.ingest.consumer import IngestConsumer
from services.inspection.orm import Inspection, Module
from services.migrations.runner import upgrade
from services.security.service import create_user

RECIPE, GRID, ASPECT = "half-2x12", "2x12", 2.0
STRINGS_PER_MODULE = 6
DEMO_USERS = {"qe": "quality_engineer", "operator": "operator", "service": "customer_service", "admin": "admin"}


def _feed(
    incoming: Path,
    staging: Path,
    n: int,
    stop: threading.Event,
    made: list[str],
    truth: dict[tuple[str, int], set[tuple[int, int]]] | None = None,
) -> None:
    """Write n string images (+ sidecars) into the watched folder, as an EL tester would.

    truth gets the defective cells (row, col) of each (barcode, string) the renderer made.
    """
    rng = np.random.default_rng(20261125)
    for i in range(n):
        if stop.is_set():
            return
        barcode = f"JT26W48{i // STRINGS_PER_MODULE:05d}"
        pos = i % STRINGS_PER_MODULE + 1
        name = f"{barcode}_S{pos}"
        if i == n - 1:
            # One unreadable file, as happens on a real line: it must come back ERROR, never OK.
            (staging / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 255, 4000, dtype=np.uint8)))
            (staging / f"{name}.json").write_text(f'{{"barcode": "{barcode}", "string_position": {pos}}}')
        else:
            img, st = generate_string(10_000 + i, recipe=RECIPE, defect_rate=0.04, bit_depth=8 if i % 2 else 16)
            write_string(staging / f"{name}.png", img, st, barcode=barcode, string_position=pos)
            if truth is not None:
                truth[(barcode, pos)] = {(c.row, c.col) for c in st.cells if c.cls != "ok"}
        # Sidecar first, image last: the worker picks up images only.
        os.replace(staging / f"{name}.json", incoming / f"{name}.json")
        os.replace(staging / f"{name}.png", incoming / f"{name}.png")
        made.append(barcode)


def _production_context(sessions: sessionmaker[Session]) -> None:
    """What the MES would send for the demo modules: product, work order, lots (through the real import path)."""
    with transaction(sessions) as s:
        barcodes = list(s.scalars(select(Module.barcode).order_by(Module.barcode)))
        rows: dict[str, list[dict[str, object]]] = {
            "products": [{"code": "P-DEMO-210", "series": "HJT 210", "cell_format": "210 half-cut", "grid": GRID}],
            "work_orders": [
                {"code": "WO-DEMO-1", "product": "P-DEMO-210", "factory": "F1", "line": "L1", "planned_qty": len(barcodes)}
            ],
            "module_builds": [
                {
                    "barcode": b,
                    "work_order": "WO-DEMO-1",
                    "lots": {"cell": f"CL-DEMO-{i // 5 + 1}", "glass": "GL-DEMO-1", "eva": "EV-DEMO-1"},
                }
                for i, b in enumerate(barcodes)
            ],
        }
        for kind, data in rows.items():
            report = import_rows(session=s, kind=kind, rows=data, actor="demo")  # type: ignore[arg-type]
            if not report.ok:
                raise RuntimeError(f"demo {kind} import refused: {report.errors[:3]}")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(*, images: int, serve: bool, port: int, data_dir: Path, console: Console) -> int:
    """Run the demo; returns the process exit code."""
    configure_logging()
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    secret = secrets.token_urlsafe(32)
    db_url = f"sqlite:///{(data_dir / 'eltrace.db').resolve()}"
    console.rule("[bold]eltrace demo")
    upgrade(db_url)
    # A service manager or a shell without a terminal stops the demo with SIGTERM (or SIGHUP): the same clean
    # stop as Ctrl-C, and the Redis server dies with the demo however the demo ends.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    redis_srv = RedisServer(data_dir / "redis", port=free_port(), appendonly=True, die_with_parent=True).start()
    console.print(f"Redis (embedded, AOF on) at {redis_srv.url}; database {db_url}")
    sessions = make_sessionmaker(make_engine(db_url))
    passwords = {u: secrets.token_urlsafe(9) for u in DEMO_USERS}
    api_settings = ApiSettings(profile="demo", database_url=db_url, secret_key=SecretStr(secret), data_dir=data_dir)
    with transaction(sessions) as s:
        cred = provision_device(session=s, code="edge-demo-1", station_code="STR-EL-01", master_secret=secret.encode())
        mes_cred = provision_device(session=s, code="mes-demo", station_code="MES", master_secret=secret.encode(), role="mes")
        for user, role in DEMO_USERS.items():
            create_user(session=s, username=user, password=passwords[user], role=role)
        # The shipped model in the registry: the models page lists it and drift watch reads its validation scores.
        classifier = models_root() / "el-cell-classifier"
        register_folder(
            s,
            DirectoryBlobStore(api_settings.resolved_image_dir()),
            classifier / (classifier / "DEFAULT").read_text().strip(),
            "demo",
        )
    if not port_free("127.0.0.1", port):
        port = free_port()
    from api.main import create_app

    api = ServerThread(create_app(api_settings), "127.0.0.1", port)
    api.start_and_wait()
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    ingest = IngestConsumer(
        redis_url=redis_srv.url,
        session_factory=sessions,
        master_secret=secret.encode(),
        settings=IngestSettings(
            profile="demo",
            database_url=db_url,
            redis_url=redis_srv.url,
            secret_key=SecretStr(secret),
            data_dir=data_dir,
            block_ms=200,
            discover_every_s=0.5,
        ),
    )
    # The events deliverer, as `eltrace events deliver` runs it: it puts the outbox in commit order (the
    # pull feed reads that order) and would post to webhook subscribers if an admin added any.
    deliverer = Deliverer(
        sessions, DeliverySettings(master_secret=secret.encode(), picture_url=picture_url_fn(base, secret.encode()))
    )
    threads = [
        threading.Thread(target=ingest.run, args=(stop,), daemon=True),
        threading.Thread(target=deliverer.run, args=(stop,), daemon=True),
    ]
    edge_settings = EdgeSettings(
        device_id=cred.device_id,
        station_id=cred.station_id,
        api_url=base,
        api_key=SecretStr(cred.api_key),
        key_id=cred.key_id,
        signing_key=SecretStr(cred.signing_key_hex),
        redis_url=redis_srv.url,
        watch_dir=data_dir / "edge" / "incoming",
        done_dir=data_dir / "edge" / "done",
        rejected_dir=data_dir / "edge" / "rejected",
        outbox_path=data_dir / "edge" / "outbox.sqlite",
        models_dir=models_root(),
        recipe=RECIPE,
        grid=GRID,
        cell_aspect=ASPECT,
        resend_after_s=10,
    )
    edge = build_edge(edge_settings)
    staging = data_dir / "edge" / "staging"
    staging.mkdir(parents=True)
    made: list[str] = []
    truth: dict[tuple[str, int], set[tuple[int, int]]] = {}
    threads += [
        threading.Thread(target=edge.publisher.run, args=(stop,), kwargs={"confirm_every_s": 0.5}, daemon=True),
        threading.Thread(target=edge.worker.run, args=(stop,), kwargs={"poll_s": 0.1}, daemon=True),
        threading.Thread(target=_feed, args=(edge_settings.watch_dir, staging, images, stop, made, truth), daemon=True),
    ]
    model = edge.inspector.model_ref
    console.print(
        f"Edge worker edge-demo-1 at STR-EL-01, recipe {RECIPE}, model {model.name} {model.version} (sha256 {model.sha256[:12]}...)"
    )
    t0 = time.monotonic()
    for t in threads:
        t.start()

    def stored() -> int:
        with transaction(sessions) as s:
            return int(s.scalar(select(func.count(Inspection.id))) or 0)

    deadline = time.monotonic() + 60 + 5 * images
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        t_gen = progress.add_task("images written by the 'EL tester'", total=images)
        t_judge = progress.add_task("judged by the edge worker", total=images)
        t_store = progress.add_task("stored in the database", total=images)
        while time.monotonic() < deadline:
            n = stored()
            progress.update(t_gen, completed=len(made))
            progress.update(t_judge, completed=edge.worker.accepted)
            progress.update(t_store, completed=n)
            if n >= images and edge.outbox.count() == 0:
                break
            time.sleep(0.25)
    elapsed = time.monotonic() - t0
    n_stored = stored()
    _production_context(sessions)
    with transaction(sessions) as s:
        rows = s.execute(select(Inspection.verdict, Inspection.timings_ms, Inspection.captured_at, Inspection.received_at)).all()
        barcodes = list(s.scalars(select(Module.barcode).order_by(Module.barcode).limit(3)))
        ng_barcodes = list(
            s.scalars(select(Module.barcode).join(Inspection).where(Inspection.verdict == "NG").distinct().limit(3))
        )
    verdicts = {v: sum(1 for r in rows if r[0] == v) for v in ("OK", "REVIEW", "NG", "ERROR")}
    with transaction(sessions) as s:
        truth_check = _against_truth(s, truth)
    judged = [r[1]["total"] for r in rows if r[0] != "ERROR" and "total" in r[1]]
    e2e = [(r[3] - r[2]).total_seconds() for r in rows]
    table = Table(title="eltrace demo summary", show_header=False)
    table.add_row("images fed", str(images))
    table.add_row("verdicts", f"OK {verdicts['OK']}  REVIEW {verdicts['REVIEW']}  NG {verdicts['NG']}  ERROR {verdicts['ERROR']}")
    if truth_check["judged_strings"]:
        tc = truth_check
        table.add_row(
            "against the demo's ground truth",
            f"rework rate (NG strings) {tc['rework_rate']:.1%} vs strings that truly hold a defect {tc['true_defect_rate']:.1%};"
            f" false calls {tc['false_ng_cells']} of {tc['ng_cells']} NG cells ({tc['false_call_rate']:.1%});"
            f" defective cells missed (neither NG nor REVIEW) {tc['missed_cells']} of {tc['defective_cells']};"
            f" REVIEW cells {tc['review_cells']} ({tc['review_true']} truly defective)",
        )
    table.add_row(
        "results stored",
        f"{n_stored} of {images}  (outbox left: {edge.outbox.count()}, dead-lettered: {ingest.stats.dead_lettered})",
    )
    if judged:
        table.add_row(
            "edge latency per image",
            f"p50 {np.percentile(judged, 50):.0f} ms   p95 {np.percentile(judged, 95):.0f} ms   (decode+segment+infer+decide;"
            " this process renders the images too - clean figures: eltrace bench edge)",
        )
    if e2e:
        table.add_row("file written -> row stored", f"p50 {np.percentile(e2e, 50):.2f} s   max {max(e2e):.2f} s")
    with transaction(sessions) as s:
        published = int(s.scalar(select(func.count()).select_from(OutboxEvent)) or 0)
    table.add_row("events published to the MES", f"{published} (pull feed and webhooks: eltrace events deliver)")
    table.add_row("wall time", f"{elapsed:.1f} s")
    console.print(table)
    console.print(
        f"\nPages: {base}/ (sign in)   API: {base}/docs (Authorize with a user below)   health: {base}/healthz", soft_wrap=True
    )
    console.print(
        f"Rework station: {base}/rework?station=RW-01 (sign in as operator, type an NG barcode + Enter)   "
        f"quality: {base}/dashboard  {base}/containment   complaints / 8D / PPM: {base}/complaints",
        soft_wrap=True,
    )
    console.print("Demo users (demo profile only; new passwords every run):")
    for user, role in DEMO_USERS.items():
        console.print(f"  {user:<9} {role:<17} password: {passwords[user]}")
    sample = (ng_barcodes or barcodes)[:1]
    if sample:
        console.print("\nTry a module's history:")
        console.print(
            f"  TOKEN=$(curl -s -d 'username=qe&password={passwords['qe']}' {base}/api/v1/auth/token | python3 -c 'import sys,json;print(json.load(sys.stdin)[\"access_token\"])')",
            soft_wrap=True,
        )
        console.print(f'  curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/modules/{sample[0]}', soft_wrap=True)
    console.print(f"Sample barcodes: {', '.join(dict.fromkeys(ng_barcodes + barcodes))}")
    if sample:
        console.print("\nAs the MES would (demo MES client key):")
        console.print(
            f"  curl -s -H 'X-Device-Key: {mes_cred.api_key}' '{base}/api/v1/gate/{sample[0]}?operation=lamination'",
            soft_wrap=True,
        )
        console.print(f"  curl -s -H 'X-Device-Key: {mes_cred.api_key}' '{base}/api/v1/events?limit=5'", soft_wrap=True)
    ok = n_stored == images and edge.outbox.count() == 0
    console.print("[green]every image's result is stored[/]" if ok else f"[red]only {n_stored} of {images} results stored[/]")
    if serve:
        # The announcement sits inside the try: a SIGTERM that follows it at once (a test, a service manager
        # under load) must find the handler's KeyboardInterrupt caught, not escaping as exit 130.
        try:
            console.print("\nServing until Ctrl-C ...")
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    # From here on the stop is under way: a second signal must not cut it short.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    stop.set()
    for t in threads:
        t.join(5)
    api.stop()
    redis_srv.stop()
    edge.outbox.close()
    return 0 if ok else 1


def _against_truth(session: Session, truth: dict[tuple[str, int], set[tuple[int, int]]]) -> dict[str, float | int]:
    """The demo knows what it rendered: compare the stored verdicts and cells with it."""
    from services.inspection.orm import CellDefect

    rows = session.execute(
        select(Module.barcode, Inspection.string_position, Inspection.verdict, Inspection.id).join(
            Module, Module.id == Inspection.module_id
        )
    ).all()
    cells = session.execute(select(CellDefect.inspection_id, CellDefect.row, CellDefect.col, CellDefect.decision)).all()
    by_insp: dict[int, dict[tuple[int, int], str]] = {}
    for iid, r, c, decision in cells:
        by_insp.setdefault(iid, {})[(r, c)] = decision
    out = {
        "judged_strings": 0,
        "ng_strings": 0,
        "true_defect_strings": 0,
        "ng_cells": 0,
        "false_ng_cells": 0,
        "defective_cells": 0,
        "missed_cells": 0,
        "review_cells": 0,
        "review_true": 0,
    }
    for barcode, pos, verdict, iid in rows:
        true = truth.get((barcode, pos))
        if true is None or verdict == "ERROR":
            continue
        got = by_insp.get(iid, {})
        out["judged_strings"] += 1
        out["ng_strings"] += verdict == "NG"
        out["true_defect_strings"] += bool(true)
        ng = {k for k, d in got.items() if d == "NG"}
        review = {k for k, d in got.items() if d == "REVIEW"}
        out["ng_cells"] += len(ng)
        out["false_ng_cells"] += len(ng - true)
        out["defective_cells"] += len(true)
        out["missed_cells"] += len(true - ng - review)
        out["review_cells"] += len(review)
        out["review_true"] += len(review & true)
    n = max(out["judged_strings"], 1)
    return {
        **out,
        "rework_rate": out["ng_strings"] / n,
        "true_defect_rate": out["true_defect_strings"] / n,
        "false_call_rate": out["false_ng_cells"] / max(out["ng_cells"], 1),
    }
