"""`eltrace model ...` (train / calibrate / evaluate) and `eltrace inspect`: the vision commands."""

from __future__ import annotations

import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

model_app = typer.Typer(help="Train, calibrate and evaluate the cell classifier.", no_args_is_help=True)
console = Console(stderr=True)
FORMATS = "folder|csv|voc|yolo"


def _width(text: str) -> tuple[int, int, int, int]:
    parts = tuple(int(v) for v in text.split(","))
    if len(parts) != 4:
        raise typer.BadParameter("four comma-separated channel counts, e.g. 12,24,48,96")
    return parts  # type: ignore[return-value]


@model_app.command("train")
def train_cmd(
    version: Annotated[str, typer.Option(help="Version folder to create under models/<name>/")],
    name: str = "el-cell-classifier",
    strings: Annotated[int, typer.Option(help="Synthetic training strings")] = 1000,
    epochs: int = 10,
    width: Annotated[str, typer.Option(help="Channels of the 4 stages")] = "12,24,48,96",
    elpv: Annotated[bool, typer.Option(help="Add the ELPV training split (CC BY-NC-SA 4.0)")] = True,
    factory_data: Annotated[Path | None, typer.Option(help="A factory's labelled images to add")] = None,
    fmt: Annotated[str, typer.Option("--format", help=FORMATS)] = "folder",
    grid: Annotated[str | None, typer.Option(help="RxC when factory images are strings")] = None,
    init_from: Annotated[Path | None, typer.Option(help="Model folder to fine-tune from (its weights.pt)")] = None,
    calib_strings: int = 150,
    test_strings: int = 300,
    target_miss: float = 0.003,
    work_dir: Path = Path("data/train"),
    models_dir: Path = Path("models"),
    set_default: Annotated[bool, typer.Option(help="Make this the version edges load by default")] = False,
    seed: int = 7,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle); lower it to fine-tune")] = 2e-3,
) -> None:
    """Data -> train (resumable) -> ONNX -> calibrate -> evaluate -> model card, in one command."""
    from edge.training.recipe import DataSpec, load_training_data
    from edge.training.train import TrainConfig, export_onnx, train

    command = "eltrace model train " + " ".join(shlex.quote(a) for a in sys.argv[3:] if a)
    spec = DataSpec(
        synthetic_strings=strings,
        elpv=elpv,
        factory_dir=str(factory_data) if factory_data else None,
        factory_format=fmt if factory_data else None,
        factory_grid=grid,
    )
    data = load_training_data(spec, work_dir, log=console.print)
    console.print(f"{len(data)} training cells")
    cfg = TrainConfig(epochs=epochs, width=_width(width), seed=seed, lr=lr)
    run_dir = work_dir / f"run-{version}"
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("training", total=epochs, loss="")

        def report(epoch: int, b: int, n: int, loss: float) -> None:
            progress.update(
                task, completed=epoch + (b + 1) / n, description=f"epoch {epoch + 1}/{epochs}", loss=f"loss {loss:.4f}"
            )

        init = init_from / "weights.pt" if init_from else None
        weights = train(data, run_dir, cfg, init_from=init, progress=report)
    model_dir = models_dir / name / version
    export_onnx(weights, model_dir, name=name, version=version, defect_threshold=0.5, cfg=cfg, data_digest=data.digest())
    import shutil

    shutil.copy(weights, model_dir / "weights.pt")  # state_dict for fine-tuning; loaded with weights_only=True
    _calibrate_and_report(
        model_dir,
        calib_strings=calib_strings,
        test_strings=test_strings,
        target_miss=target_miss,
        work_dir=work_dir,
        command=command,
        data_info={
            "synthetic": f"{strings} strings (seeds 0..{strings - 1}, all four recipes, 1.2 MP)",
            "elpv": "train split (index % 5 != 0)" if elpv else "not used",
            "factory": str(factory_data) if factory_data else "not used",
            "train_cells": len(data),
        },
    )
    if set_default:
        (models_dir / name / "DEFAULT").write_text(version + "\n")
    console.print(f"[green]model {name} {version} written to {model_dir}[/]")


def _calibrate_and_report(
    model_dir: Path, *, calib_strings: int, test_strings: int, target_miss: float, work_dir: Path, command: str, data_info: dict
) -> None:
    from edge.inference.model import CellClassifier
    from edge.training.card import write_card
    from edge.training.dataset import elpv_cells
    from edge.training.evaluate import calibrate, evaluate, predict
    from edge.training.recipe import synthetic_eval_set
    from edge.training.train import set_threshold

    console.print(f"calibrating on {calib_strings} held-out synthetic strings (4 MP) ...")
    calib = synthetic_eval_set("calib", calib_strings, work_dir)
    probs = predict(CellClassifier.load(model_dir), calib)
    op, rule = calibrate(1 - probs[:, 0], calib.p_def >= 0.5, target_miss)
    calibration = {
        "threshold": op.threshold,
        "target_miss": target_miss,
        "rule": rule,
        "set": f"{calib_strings} synthetic strings, seeds 500000+, {op.defects} defective / {op.ok_cells} OK cells",
        "calibration_point": op.__dict__,
    }
    set_threshold(model_dir, op.threshold, {"calibration": calibration})
    model = CellClassifier.load(model_dir)
    console.print(f"operating point p(defect) >= {op.threshold:.5f}: {rule}")
    reports = {}
    test = synthetic_eval_set("test", test_strings, work_dir)
    reports["synthetic-test"] = evaluate(
        predict(model, test), test, op.threshold, name="synthetic-test", out_dir=model_dir / "eval"
    )
    try:
        elpv = elpv_cells("test")
        reports["real-elpv-test"] = evaluate(
            predict(model, elpv), elpv, op.threshold, name="real-elpv-test", out_dir=model_dir / "eval"
        )
    except ImportError:
        console.print("elpv-dataset not installed: ELPV test split skipped")
    write_card(model_dir, command=command, reports=reports, calibration=calibration, data_info=data_info)
    for name, r in reports.items():
        o = r["operating_point"]
        console.print(
            f"{name}: miss {o['misses']}/{o['defects']} ({o['miss_rate']:.3%}, 95% UB {o['miss_upper95']:.3%}), "
            f"false calls {o['false_calls']}/{o['ok_cells']} ({o['false_call_rate']:.3%}), AUC {r['roc_auc']:.4f}"
        )


@model_app.command("calibrate")
def calibrate_cmd(
    model_dir: Path,
    target_miss: float = 0.003,
    strings: Annotated[int, typer.Option(help="Held-out synthetic strings to calibrate on")] = 150,
    data: Annotated[Path | None, typer.Option(help="Calibrate on a factory's labelled set instead")] = None,
    fmt: Annotated[str, typer.Option("--format", help=FORMATS)] = "folder",
    grid: str | None = None,
    work_dir: Path = Path("data/train"),
) -> None:
    """Set the threshold that meets the miss target (95 % upper bound, Clopper-Pearson) and print it."""
    from edge.inference.model import CellClassifier
    from edge.training.dataset import factory_cells
    from edge.training.evaluate import calibrate, predict
    from edge.training.recipe import synthetic_eval_set
    from edge.training.train import set_threshold

    cells = factory_cells(data, fmt, grid=_grid(grid)) if data else synthetic_eval_set("calib", strings, work_dir)
    probs = predict(CellClassifier.load(model_dir), cells)
    op, rule = calibrate(1 - probs[:, 0], cells.p_def >= 0.5, target_miss)
    set_threshold(
        model_dir,
        op.threshold,
        {
            "calibration": {
                "threshold": op.threshold,
                "target_miss": target_miss,
                "rule": rule,
                "set": str(data) if data else f"{strings} synthetic strings",
                "calibration_point": op.__dict__,
            }
        },
    )
    print(json.dumps({"threshold": op.threshold, "rule": rule, **op.__dict__}))


@model_app.command("gallery")
def gallery_cmd(out: Path = Path("docs/gallery.png"), per_class: int = 5) -> None:
    """Render every synthetic defect class next to real ELPV cells (docs/gallery.png)."""
    from edge.training.gallery import render_gallery

    console.print(f"gallery written to {render_gallery(out, per_class)}")


def _grid(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    from services.contracts import Grid

    g = Grid.parse(text)
    return g.rows, g.cols


@model_app.command("evaluate")
def evaluate_cmd(
    model_dir: Path,
    data: Annotated[Path | None, typer.Option(help="Labelled images to evaluate on")] = None,
    fmt: Annotated[str, typer.Option("--format", help=FORMATS)] = "folder",
    grid: Annotated[str | None, typer.Option(help="RxC when the images are strings")] = None,
    synthetic: Annotated[int, typer.Option(help="Also evaluate on N held-out synthetic strings")] = 0,
    elpv: Annotated[bool, typer.Option(help="Also evaluate on the reserved ELPV test split")] = False,
    out: Path | None = None,
    work_dir: Path = Path("data/train"),
) -> None:
    """Miss / false-call per cell and per image, per-class recall, confusion matrix, ROC/PR PNG, bootstrap intervals."""
    from edge.inference.model import CellClassifier
    from edge.training.dataset import elpv_cells, factory_cells
    from edge.training.evaluate import evaluate, predict, to_markdown
    from edge.training.recipe import synthetic_eval_set

    model = CellClassifier.load(model_dir)
    out = out or (model_dir / "eval")
    sets = {}
    if data:
        sets[data.name] = factory_cells(data, fmt, grid=_grid(grid))
    if synthetic:
        sets["synthetic-test"] = synthetic_eval_set("test", synthetic, work_dir)
    if elpv:
        sets["real-elpv-test"] = elpv_cells("test")
    if not sets:
        raise typer.BadParameter("give --data, --synthetic N or --elpv")
    for name, cells in sets.items():
        r = evaluate(predict(model, cells), cells, model.info.defect_threshold, name=name, out_dir=out)
        print(to_markdown(r))
    console.print(f"reports in {out}")


def inspect_cmd(
    images: Annotated[list[Path], typer.Argument(help="String EL images")],
    grid: Annotated[str, typer.Option(help="Cell grid RxC")] = "2x12",
    recipe: str = "half-2x12",
    cell_aspect: Annotated[float | None, typer.Option(help="Cell width/height (checks the outline)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Full JSON result per line")] = False,
    overlay: Annotated[Path | None, typer.Option(help="Write overlay PNGs here")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model", help="Model folder (default: models/.../DEFAULT)")] = None,
) -> None:
    """Judge images on this machine: one JSON line per image (verdict, cells, timings)."""
    import cv2

    from cli.runtime import models_root
    from edge.inference.model import CellClassifier, resolve_model_dir
    from edge.inference.rules import DecisionRules
    from edge.overlay import render_overlay
    from edge.pipeline import Inspector, Recipe
    from services.contracts import Grid

    model = CellClassifier.load(model_dir or resolve_model_dir(models_root()))
    rules = DecisionRules.load(classes=model.info.classes, defect_threshold=model.info.defect_threshold, path=None)
    inspector = Inspector(model, rules, device_id="local", station_id="local")
    rec = Recipe(recipe, Grid.parse(grid), cell_aspect)
    worst = 0
    for path in images:
        data = path.read_bytes()
        out = inspector.inspect(data, barcode="LOCAL", string_position=1, recipe=rec, captured_at=datetime.now(UTC))
        env = out.envelope
        if as_json:
            line = env.model_dump(mode="json")
        else:
            line = {
                "image": str(path),
                "verdict": env.verdict.value,
                "error": env.error,
                "timings_ms": env.timings_ms,
                "cells": [
                    {
                        "row": c.row,
                        "col": c.col,
                        "cls": c.cls,
                        "score": c.score,
                        "ng": c.ng,
                        "box": [c.box.x, c.box.y, c.box.w, c.box.h],
                    }
                    for c in env.cells
                    if c.cls != "ok"
                ],
            }
        line["image"] = str(path)
        print(json.dumps(line))
        worst = max(worst, {"OK": 0, "NG": 1, "ERROR": 2}[env.verdict.value])
        if overlay is not None and out.decoded is not None:
            overlay.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(overlay / (path.stem + ".overlay.png")), render_overlay(out.decoded.pixels, env))
    raise typer.Exit(0)


def bench_edge(*, images: int, seconds: float, console: Console) -> None:
    """End-to-end edge latency per 4 MP string image (24 cells), 8- and 16-bit, single and sustained."""
    import os
    import platform
    import resource

    import cv2
    import numpy as np
    from rich.table import Table

    from cli.runtime import models_root
    from edge.acquisition.decode import decode
    from edge.inference.model import CellClassifier, resolve_model_dir
    from edge.inference.rules import DecisionRules
    from edge.overlay import render_overlay
    from edge.pipeline import Inspector, Recipe
    from edge.training.synthetic import generate_string
    from services.contracts import Grid

    model = CellClassifier.load(resolve_model_dir(models_root()))
    rules = DecisionRules.load(classes=model.info.classes, defect_threshold=model.info.defect_threshold, path=None)
    inspector = Inspector(model, rules, device_id="bench", station_id="bench")
    rec = Recipe("half-2x12", Grid(rows=2, cols=12), 2.0)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; onnxruntime CPU, 2 threads; model {model.info.name} {model.info.version}"
    )
    sets = {}
    for depth in (8, 16):
        files = []
        for i in range(images):
            img, _t = generate_string(70_000 + i, recipe="half-2x12", defect_rate=0.05, bit_depth=depth, megapixels=4.0)
            files.append(cv2.imencode(".png", img)[1].tobytes())
        sets[f"{depth}-bit"] = files
        console.print(
            f"{depth}-bit: {images} images {img.shape[1]}x{img.shape[0]} ({img.shape[0] * img.shape[1] / 1e6:.1f} MP), 24 cells"
        )

    def run(data: bytes) -> dict[str, float]:
        t0 = time.perf_counter()
        out = inspector.inspect(data, barcode="BENCH", string_position=1, recipe=rec, captured_at=datetime.now(UTC))
        t = time.perf_counter()
        if out.decoded is not None:
            render_overlay(out.decoded.pixels, out.envelope)
        timings = dict(out.envelope.timings_ms)
        timings["overlay"] = (time.perf_counter() - t) * 1000
        timings["e2e"] = (time.perf_counter() - t0) * 1000
        assert out.envelope.verdict.value != "ERROR", out.envelope.error
        return timings

    table = Table(title="edge end to end per string image (decode, segment, preprocess, infer, decide, overlay)")
    for c in ("image set", "mode", "images", "p50 ms", "p95 ms", "images/min", "stage share (median ms)"):
        table.add_column(c)
    baseline = Table(title="baselines in the same run (same images)")
    for c in ("baseline", "p50 ms", "p95 ms"):
        baseline.add_column(c)
    for name, files in sets.items():
        run(files[0])  # warm-up (allocations, ORT arena)
        single = [run(f) for f in files]
        e2e = np.array([s["e2e"] for s in single])
        stages = {
            k: float(np.median([s[k] for s in single])) for k in ("decode", "segment", "preprocess", "infer", "decide", "overlay")
        }
        share = ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
        table.add_row(
            name,
            "single",
            str(len(single)),
            f"{np.percentile(e2e, 50):.0f}",
            f"{np.percentile(e2e, 95):.0f}",
            f"{60000 / e2e.mean():.0f}",
            share,
        )
        t0, done, lat = time.perf_counter(), 0, []
        while time.perf_counter() - t0 < seconds:
            lat.append(run(files[done % len(files)])["e2e"])
            done += 1
        el = time.perf_counter() - t0
        lat_a = np.array(lat)
        table.add_row(
            name,
            f"sustained {seconds:.0f} s",
            str(done),
            f"{np.percentile(lat_a, 50):.0f}",
            f"{np.percentile(lat_a, 95):.0f}",
            f"{done / el * 60:.0f}",
            "",
        )
        # Baseline 1: decode only (the floor under any pipeline). Baseline 2: one ONNX call per cell (no batching).
        dec = []
        for f in files:
            t = time.perf_counter()
            decode(f)
            dec.append((time.perf_counter() - t) * 1000)
        baseline.add_row(f"{name}: decode only (floor)", f"{np.percentile(dec, 50):.0f}", f"{np.percentile(dec, 95):.0f}")
        crops = [np.random.default_rng(0).random((200, 400), dtype=np.float32) for _ in range(24)]
        batched, unbatched = [], []
        for _ in range(10):
            t = time.perf_counter()
            model.run(model.preprocess(crops))
            batched.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            for c in crops:
                model.run(model.preprocess([c]))
            unbatched.append((time.perf_counter() - t) * 1000)
        if name == "8-bit":
            baseline.add_row(
                "24 cells, one batched ONNX call (ours)", f"{np.percentile(batched, 50):.0f}", f"{np.percentile(batched, 95):.0f}"
            )
            baseline.add_row(
                "24 cells, one ONNX call per cell", f"{np.percentile(unbatched, 50):.0f}", f"{np.percentile(unbatched, 95):.0f}"
            )
    console.print(table)
    console.print(baseline)
    console.print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (includes image generation)")
