"""`eltrace bench learning`: one round of the learning loop on generated data, figures before and after.

A line (generated strings with a benign look the training strings never show, a known defect mix) runs
the live model A. The floor decides what A flagged (EL review of REVIEW strings, dispositions at rework)
from the generator's truth, through the same services the pages call; `eltrace model train
--from-labels` fine-tunes B on those labels (calibrated by the same rule and miss target as A); B runs
in shadow beside A on new strings of the line; the comparison report is read; B is promoted. The
figures of both models come from the generator's truth on the shadow strings (never labelled for
training): misses, false calls and review load, before (A) and after (B). The review page's
scan-to-image time (Space -> the next string's image on screen) is timed in headless Chromium.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
STATION, REWORK = "STR-EL-01", "RW-01"
LINE_RECIPES = ("full-1x12", "half-2x12")
OK = "ok"


@dataclass
class Judged:
    """One line string: its truth per cell and what each model decided per cell."""

    truth: dict[tuple[int, int], str]
    live: dict[tuple[int, int], str]
    shadow: dict[tuple[int, int], str] = field(default_factory=dict)
    verdict: str = ""  # the live result's string verdict


def upper95(k: int, n: int) -> float:
    """Clopper-Pearson 95 % upper bound of a rate of k in n."""
    from edge.training.evaluate import clopper_pearson_upper

    return float(clopper_pearson_upper(k, n)) if n else 1.0


def figures(strings: Sequence[Judged], which: str) -> dict[str, float | int]:
    """Misses, false calls and review load of one model ('live' or 'shadow') against the generator's truth."""
    c = dict.fromkeys(("cells", "defects", "ok_cells", "misses", "false_calls", "auto_ng_false_calls", "review"), 0)
    for s in strings:
        decisions = s.live if which == "live" else s.shadow
        for key, decision in decisions.items():
            real = s.truth[key] != OK
            c["cells"] += 1
            c["defects"] += int(real)
            c["ok_cells"] += int(not real)
            c["misses"] += int(real and decision == "OK")
            c["false_calls"] += int(not real and decision in ("NG", "REVIEW"))
            c["auto_ng_false_calls"] += int(not real and decision == "NG")
            c["review"] += int(decision == "REVIEW")
    return {
        **c,
        "miss_rate": c["misses"] / c["defects"] if c["defects"] else 0.0,
        "miss_upper95": upper95(c["misses"], c["defects"]),
        "false_call_rate": c["false_calls"] / c["ok_cells"] if c["ok_cells"] else 0.0,
        "auto_ng_false_call_rate": c["auto_ng_false_calls"] / c["ok_cells"] if c["ok_cells"] else 0.0,
        "review_load": c["review"] / c["cells"] if c["cells"] else 0.0,
    }


def verdict(before: dict[str, float | int], after: dict[str, float | int]) -> dict[str, object]:
    """The issue's target: false calls and review load at least halved, misses not worse."""
    fc = after["false_call_rate"] / before["false_call_rate"] if before["false_call_rate"] else None
    rl = after["review_load"] / before["review_load"] if before["review_load"] else None
    misses_ok = after["misses"] <= before["misses"]
    return {
        "false_call_ratio": fc,
        "review_load_ratio": rl,
        "misses_not_worse": misses_ok,
        "met": bool(fc is not None and rl is not None and fc <= 0.5 and rl <= 0.5 and misses_ok),
    }


class Steps:
    """Wall time of each named step."""

    def __init__(self, console: Console) -> None:
        self.seconds: dict[str, float] = {}
        self.console = console

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        self.console.print(f"[bold]{name}[/] ...")
        yield
        self.seconds[name] = round(time.perf_counter() - t0, 1)
        self.console.print(f"  {name}: {self.seconds[name]:.1f} s")


def _line_string(seed: int, defect_rate: float, look: str | None) -> tuple[bytes, str, dict[tuple[int, int], str]]:
    import cv2

    from edge.training.synthetic import generate_string

    recipe = LINE_RECIPES[seed % len(LINE_RECIPES)]
    img, truth = generate_string(seed, recipe=recipe, defect_rate=defect_rate, megapixels=1.2, bit_depth=8, look=look)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes(), recipe, {(c.row, c.col): c.cls for c in truth.cells}


def _recipe(name: str) -> Any:
    from edge.pipeline import Recipe
    from edge.training.synthetic import RECIPES
    from services.contracts import Grid

    rows, cols, aspect = RECIPES[name]
    return Recipe(name, Grid(rows=rows, cols=cols), aspect)


def _run_line(
    inspector: Any, sessions: Any, blobs: Any, device_row: int, seeds: Sequence[int], *, defect_rate: float, look: str | None,
    captured: datetime, prefix: str,
) -> dict[str, tuple[str, Judged]]:  # fmt: skip
    """Judge generated strings and store results and images as ingest would; barcode -> (result_id, judged)."""
    from services.core.db import transaction
    from services.imagestore.store import store_image
    from services.ingest.store import store_batch

    out: dict[str, tuple[str, Judged]] = {}
    batch: list[Any] = []
    for i, seed in enumerate(seeds):
        png, recipe, truth = _line_string(seed, defect_rate, look)
        barcode = f"{prefix}{i:07d}"
        env = inspector.inspect(
            png, barcode=barcode, string_position=1, recipe=_recipe(recipe), captured_at=captured + timedelta(minutes=i)
        ).envelope
        judged = Judged(
            truth=truth, live={(c.row, c.col): c.effective_decision.value for c in env.cells}, verdict=env.verdict.value
        )
        if env.shadow is not None:
            judged.shadow = {(c.row, c.col): c.decision.value for c in env.shadow.cells}
        out[barcode] = (env.result_id, judged)
        with transaction(sessions) as s:
            store_image(session=s, blobs=blobs, data=png, expected_sha256=env.image.sha256)
        batch.append((env, device_row))
        if len(batch) == 50 or i == len(seeds) - 1:
            with transaction(sessions) as s:
                store_batch(session=s, items=batch, loop_limit=3, plant_timezone="UTC")
            batch = []
    return out


def _floor(sessions: Any, judged: dict[str, tuple[str, Judged]], barcodes: Sequence[str], at: datetime | None) -> dict[str, int]:
    """The operators' decisions from the truth: every REVIEW string reviewed, then every NG cell dispositioned."""
    from services.core.db import transaction
    from services.core.time import set_clock
    from services.review import service as review
    from services.review.schemas import ReviewDecision
    from services.rework import service as rework
    from services.rework.views import station_view

    done = dict.fromkeys(("reviewed_strings", "review_ok", "review_defect", "false_call", "repaired"), 0)
    set_clock(at)
    try:
        for barcode in barcodes:
            rid, j = judged[barcode]
            # Only REVIEW strings are reviewed: the doubtful cells of an NG string wait for its re-test after rework
            # (a re-test still in doubt comes to the review then), which this bench does not image.
            if j.verdict == "REVIEW":
                with transaction(sessions) as s:
                    cells = review.review_string(session=s, result_id=rid).cells
                if all(c.decision is None for c in cells):  # else reviewed at the page already (the timed strings)
                    words = [(c, j.truth[(c.row, c.col)]) for c in cells]
                    items = [
                        review.CellInput(c.defect_id, ReviewDecision.OK if real == OK else ReviewDecision.DEFECT, real if real != OK else None)
                        for c, real in words
                    ]  # fmt: skip
                    with transaction(sessions) as s:
                        review.review_all(
                            session=s, result_id=rid, items=items, actor="op", station=STATION, loop_limit=3, plant_timezone="UTC"
                        )
                    done["reviewed_strings"] += 1
                    for _c, real in words:
                        done["review_ok" if real == OK else "review_defect"] += 1
            with transaction(sessions) as s:
                view = station_view(session=s, barcode=barcode, loop_limit=3)
                for d in view.defects:
                    if d.disposition is not None:
                        continue
                    real = j.truth[(d.row, d.col)]
                    item = rework.DispositionInput(
                        d.defect_id, "false_call" if real == OK else "repaired", None if real == OK else "RESOLDER"
                    )
                    rework.dispose(session=s, loop_id=d.loop_id, item=item, actor="op", station=REWORK)
                    done["false_call" if real == OK else "repaired"] += 1
    finally:
        set_clock(None)
    return done


def _scan_to_image(
    console: Console, base: str, password: str, sessions: Any, judged: dict[str, tuple[str, Judged]], n: int
) -> list[float]:
    """Review page in headless Chromium: cells decided, Space -> ms until the next string's image is on screen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from cli.headless import signed_in_page
    from services.core.db import transaction
    from services.review import service as review
    from services.review.schemas import ReviewDecision

    chromium = os.environ.get("ELTRACE_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        console.print("[yellow]review page timing skipped: no chromium on this machine[/]")
        return []
    times: list[float] = []
    by_rid = {rid: j for rid, j in judged.values()}
    with sync_playwright() as pw:
        b, page = signed_in_page(pw, chromium, base, "op", password, {"width": 1366, "height": 768})
        page.goto(f"{base}/review?station={STATION}")
        for _ in range(n):
            rid = page.locator("#image").get_attribute("data-result") if page.locator("#image").count() else None
            if not rid or rid not in by_rid:
                break
            with transaction(sessions) as s:  # the cells as the operator keys them (D / O), then Space on the page
                for c in review.review_string(session=s, result_id=rid).cells:
                    real = by_rid[rid].truth[(c.row, c.col)]
                    word = ReviewDecision.OK if real == OK else ReviewDecision.DEFECT
                    review.decide(
                        session=s,
                        result_id=rid,
                        item=review.CellInput(c.defect_id, word, real if real != OK else None),
                        actor="op",
                        station=STATION,
                    )
            page.evaluate("document.body.dataset.imageReady = ''")
            page.keyboard.press(" ")
            try:  # the page's CSP forbids eval, so wait on the attribute its script sets, not a JS predicate
                page.wait_for_selector("body[data-image-ready='1']", timeout=5000)
            except PlaywrightTimeout:
                break  # the queue is empty: no next image to time
            times.append(float(page.evaluate("document.body.dataset.nextImageMs")))
        b.close()
    return times


def _pct(values: list[float], q: float) -> float | None:
    import numpy as np

    return round(float(np.percentile(values, q)), 1) if values else None


def bench_learning(
    *, label_strings: int, test_strings: int, defect_rate: float, look: str | None, live: Path | None, init_from: Path | None,
    arch: str | None, input_size: int | None, width: str, replay_strings: int, epochs: int, lr: float, calib_strings: int,
    browser_samples: int, work_dir: Path, console: Console, train_extra: Sequence[str] = (),
) -> dict[str, object]:  # fmt: skip
    """Run one round of the loop; print the figures and return them (the --json object)."""
    from sqlalchemy import select

    from api.main import create_app
    from cli.model import register_folder
    from cli.runtime import models_root
    from cli.servers.http import ServerThread, free_port
    from edge.inference.model import CellClassifier
    from edge.inference.rules import DecisionRules
    from edge.pipeline import ShadowModel
    from edge.wiring import load_inspector
    from services.core.db import make_engine, make_sessionmaker, transaction
    from services.core.settings import ApiSettings
    from services.devices.orm import Device
    from services.devices.service import provision_device
    from services.imagestore.store import DirectoryBlobStore
    from services.labels.compare import compare
    from services.migrations.runner import upgrade
    from services.registry import service as registry
    from services.registry.schemas import Role
    from services.security.service import create_user

    classifier_root = models_root() / "el-cell-classifier"
    a_dir = live or classifier_root / (classifier_root / "DEFAULT").read_text().strip()
    a_meta = json.loads((a_dir / "metadata.json").read_text())
    if init_from is None:  # fine-tune A's float parent (an INT8 model is quantized from one) when it kept its weights
        parent = a_meta.get("data", {}).get("quantized_from")
        cand = (ROOT / parent) if parent else a_dir
        init_from = cand if (cand / "weights.pt").exists() else None
    parent_meta = json.loads((init_from / "metadata.json").read_text()) if init_from else {}
    arch = arch or parent_meta.get("architecture") or "cellnet"
    input_size = input_size or int((parent_meta.get("input_size") or [160])[0])

    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    db_url = f"sqlite:///{(work_dir / 'eltrace.db').resolve()}"
    upgrade(db_url)
    secret = secrets.token_urlsafe(32)
    settings = ApiSettings(profile="test", database_url=db_url, secret_key=secret, data_dir=work_dir / "api")
    sessions = make_sessionmaker(make_engine(db_url))
    blobs = DirectoryBlobStore(settings.resolved_image_dir())
    password = secrets.token_urlsafe(12)
    steps = Steps(console)
    now = datetime.now(UTC)

    def assign(s: Any, model: Any, role: Role, reason: str) -> None:
        registry.assign(session=s, station=STATION, name=model.name, version=model.version, role=role, actor="qe", reason=reason)

    with transaction(sessions) as s:
        provision_device(session=s, code="edge-bench", station_code=STATION, master_secret=secret.encode())
        device_row = int(s.execute(select(Device.id).where(Device.code == "edge-bench")).scalar_one())
        for user, role in (("op", "operator"), ("qe", "quality_engineer")):
            create_user(session=s, username=user, password=password, role=role)
        a_read, _ = register_folder(s, blobs, a_dir, "qe")
        assign(s, a_read, Role.LIVE, "line start")
    console.print(
        f"live model A: {a_read.name} {a_read.version}; B fine-tuned from {init_from or 'scratch'} ({arch}, {input_size} px)"
    )

    # 1. The line runs A; six weeks of strings.
    inspector = load_inspector(a_dir, device_id="edge-bench", station_id=STATION)
    with steps.step("line runs A"):
        label_seeds = [700_000 + i for i in range(label_strings)]
        first = _run_line(inspector, sessions, blobs, device_row, label_seeds, defect_rate=defect_rate, look=look,
                          captured=now - timedelta(days=43), prefix="MBL")  # fmt: skip
    # 2. The floor decides what A flagged; the last fifth of it within the newest two weeks (held out by --from-labels).
    barcodes = list(first)
    cut = max(1, len(barcodes) * 4 // 5)
    with steps.step("floor labels"):
        floor = _floor(sessions, first, barcodes[:cut], now - timedelta(days=30))
        newest = _floor(sessions, first, barcodes[cut:], now - timedelta(days=2))
    labels = sum(floor[k] + newest[k] for k in ("review_ok", "review_defect", "false_call", "repaired"))
    console.print(f"  {labels} floor labels: {floor} then {newest}")

    # 3. B from the floor's labels.
    b_version = f"{a_read.version.split('-')[0]}-floor1"
    models_out = work_dir / "models"
    cmd = [sys.executable, "-m", "cli.main", "model", "train", "--name", a_read.name, "--version", b_version, "--from-labels",
           "--holdout-days", "14", "--arch", arch, "--input-size", str(input_size), "--width", width,
           "--strings", str(replay_strings), "--epochs", str(epochs), "--lr", str(lr), "--calib-strings", str(calib_strings),
           "--test-strings", "20", "--no-eval-elpv", "--no-set-default", "--work-dir", str(work_dir / "train"),
           "--models-dir", str(models_out), *train_extra]  # fmt: skip
    if init_from:
        cmd += ["--init-from", str(init_from)]
    if "target_miss" in a_meta.get("calibration", {}):  # B makes A's promise, calibrated the same way
        cmd += ["--target-miss", str(a_meta["calibration"]["target_miss"])]
    if "--no-elpv" not in train_extra:  # the shipped models' recipe: real cells weigh 3, typed defects pasted on 70 % of them
        cmd += ["--pasted", "0.7", "--elpv-weight", "3", "--defect-rate", "0.4", "--batch", "32"]
    env = {**os.environ, "ELTRACE_DATABASE_URL": db_url, "ELTRACE_DATA_DIR": str(work_dir / "api"), "ELTRACE_SECRET_KEY": secret}
    with steps.step("train B from labels"):
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        console.print(r.stdout[-3000:] + r.stderr[-3000:])
        raise SystemExit(f"training failed ({r.returncode})")
    b_dir = models_out / a_read.name / b_version

    # 4. B in shadow beside A on new strings of the line; the floor decides what A flagged there too.
    with steps.step("register B, start shadow"):
        with transaction(sessions) as s:
            b_read, _ = register_folder(s, blobs, b_dir, "qe")
            assign(s, b_read, Role.SHADOW, "floor round 1")
        b_model = CellClassifier.load(b_dir)
        inspector.shadow = ShadowModel(b_model, DecisionRules.for_model(b_model.info, None))
    shadow_since = datetime.now(UTC) - timedelta(hours=2)  # the shadow strings' capture times start here
    with steps.step("line runs A with B in shadow"):
        test_seeds = [800_000 + i for i in range(test_strings)]
        second = _run_line(inspector, sessions, blobs, device_row, test_seeds, defect_rate=defect_rate, look=look,
                           captured=shadow_since, prefix="MBT")  # fmt: skip
    port = free_port()
    api = ServerThread(create_app(settings), "127.0.0.1", port)
    api.start_and_wait()
    try:
        with steps.step("review page, Space to next image"):
            scan = (
                _scan_to_image(console, f"http://127.0.0.1:{port}", password, sessions, second, browser_samples)
                if browser_samples
                else []
            )
    finally:
        api.stop()
    with steps.step("floor labels (shadow period)"):
        _floor(sessions, second, list(second), None)
    with steps.step("comparison report"), transaction(sessions) as s:
        report = compare(session=s, station=STATION, since=shadow_since)
    with steps.step("promote B"):
        with transaction(sessions) as s:
            assign(s, b_read, Role.LIVE, "floor round 1 passed")
        inspector = load_inspector(b_dir, device_id="edge-bench", station_id=STATION)

    strings = [j for _rid, j in second.values()]
    before, after = figures(strings, "live"), figures(strings, "shadow")
    target = verdict(before, after)
    b_meta = json.loads((b_dir / "metadata.json").read_text())
    result: dict[str, object] = {
        "bench": "learning",
        "machine": f"{os.cpu_count()} CPU threads",
        "line": {
            "look": look or "none",
            "recipes": list(LINE_RECIPES),
            "defect_rate": defect_rate,
            "label_strings": label_strings,
            "test_strings": test_strings,
        },  # fmt: skip
        "A": {"version": a_read.version, "operating_points": a_meta.get("operating_points")},
        "B": {
            "version": b_version,
            "init_from": str(init_from) if init_from else None,
            "arch": arch,
            "epochs": epochs,
            "operating_points": b_meta.get("operating_points"),
            "floor_labels": b_meta.get("data", {}).get("floor_labels"),
        },  # fmt: skip
        "floor_labels": labels,
        "before": before,
        "after": after,
        "target": target,
        "report": {
            "images": report.images,
            "live": [m.model_dump() for m in report.live],
            "shadow": [m.model_dump() for m in report.shadow],
        },
        "review_scan_to_image_ms": {
            "n": len(scan),
            "p50": _pct(scan, 50),
            "p95": _pct(scan, 95),
            "max": max(scan) if scan else None,
            "target_p95": 300,
        },  # fmt: skip
        "seconds": steps.seconds,
    }
    _print(console, result)
    return result


def _print(console: Console, r: dict[str, Any]) -> None:
    t = Table(
        title=f"one round of the learning loop: A {r['A']['version']} (before) vs B {r['B']['version']} (after), same strings"
    )
    for col in ("figure", "A, live", "B, after one round", "B / A"):
        t.add_column(col, justify="right" if col != "figure" else "left")
    b, a = r["before"], r["after"]

    def row(name: str, key: str, pct: bool = True) -> None:
        ratio = f"{a[key] / b[key]:.2f}" if b[key] else "-"
        fmt: Callable[[float], str] = (lambda v: f"{v:.2%}") if pct else (lambda v: f"{v:,}")
        t.add_row(name, fmt(b[key]), fmt(a[key]), ratio)

    row("cells judged", "cells", pct=False)
    row("defective cells (truth)", "defects", pct=False)
    row("missed defects", "misses", pct=False)
    row("miss rate, 95 % upper bound", "miss_upper95")
    row("false calls (OK cells flagged NG or REVIEW)", "false_call_rate")
    row("auto-NG false calls", "auto_ng_false_call_rate")
    row("review load (REVIEW cells / cells)", "review_load")
    console.print(t)
    tg = r["target"]
    console.print(
        f"target (false calls and review load at least halved, misses not worse): {'met' if tg['met'] else 'NOT met'}"
        f" (false calls x{tg['false_call_ratio'] or 0:.2f}, review load x{tg['review_load_ratio'] or 0:.2f},"
        f" misses {'not worse' if tg['misses_not_worse'] else 'worse'})"
    )
    s = r["review_scan_to_image_ms"]
    if s["n"]:
        console.print(
            f"review page Space -> next image (headless Chromium, {s['n']} strings): p50 {s['p50']} ms, p95 {s['p95']} ms (target p95 < 300 ms)"
        )
    console.print("step times: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items()))
    rep = r["report"]
    for side in ("live", "shadow"):
        for m in rep[side]:
            console.print(
                f"comparison report, {side} {m['version']}: {m['images']} images, false calls {m['false_calls']} of {m['labelled_ok']} "
                f"labelled OK, missed {m['missed']} of {m['labelled_defects']} labelled defects, review load {m['review_load']:.2%}"
            )
