"""`eltrace model ...` (train / calibrate / evaluate) and `eltrace inspect`: the vision commands."""

from __future__ import annotations

import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

model_app = typer.Typer(help="Train, calibrate and evaluate the cell classifier.", no_args_is_help=True)
console = Console(stderr=True)
FORMATS = "folder|csv|voc|yolo"


def _width(text: str) -> tuple[int, int, int, int]:
    parts = tuple(int(v) for v in text.split(","))
    if len(parts) != 4:
        raise typer.BadParameter("four comma-separated channel counts, e.g. 12,24,48,96")
    return parts


# A shipped model promises <= 0.3 % missed defects with a 95 % bound, and the evaluation proves it again on the
# test strings with their own bound: calibrating at two thirds of the promise leaves room for that second bound
# (decision 0005, session 13). A station recalibrating on its own cells (`model calibrate`) keeps 0.3 %.
SHIPPED_TARGET_MISS = 0.002
SHIPPED_MISS_HELP = "Miss target the OK threshold is calibrated to (0.2 %: margin for the test set's own 95 % bound under 0.3 %)"


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
    target_miss: Annotated[float, typer.Option(help=SHIPPED_MISS_HELP)] = SHIPPED_TARGET_MISS,
    work_dir: Path = Path("data/train"),
    models_dir: Path = Path("models"),
    set_default: Annotated[bool, typer.Option(help="Make this the version edges load by default")] = False,
    seed: int = 7,
    lr: Annotated[float, typer.Option(help="Peak learning rate (one-cycle); lower it to fine-tune")] = 2e-3,
    arch: Annotated[str, typer.Option(help="cellnet (compact, from scratch) or efficientnet-lite0/1/2 (pretrained)")] = "cellnet",
    elpv_split: Annotated[
        str, typer.Option(help="ELPV cells to train on: fit (keeps the calibration part out) or train")
    ] = "fit",
    pasted: Annotated[float, typer.Option(help="Paste typed defects onto this share of the functional ELPV cells")] = 0.0,
    defect_rate: Annotated[float, typer.Option(help="Share of defective cells in synthetic training strings")] = 0.5,
    elpv_weight: Annotated[float, typer.Option(help="Loss weight of real (ELPV / factory) cells")] = 1.0,
    batch: int = 64,
    real_labels: Annotated[
        str, typer.Option(help="ELPV's 1/3 and 2/3 labels: soft (as given) or hard (OK / defective at 0.5, as evaluated)")
    ] = "soft",
    input_size: Annotated[int, typer.Option(help="Model input side in px (224-300 keeps thin cracks; costs time)")] = 160,
    threads: Annotated[int, typer.Option(help="CPU threads for training")] = 2,
    eval_elpv: Annotated[
        bool, typer.Option(help="Evaluate on the reserved ELPV split (off when the factory data was built from it)")
    ] = True,
    from_labels: Annotated[
        bool,
        typer.Option(help="Add the floor's labelled cells from the database (EL review, dispositions); the newest weeks test"),
    ] = False,
    holdout_days: Annotated[int, typer.Option(help="With --from-labels: the newest days of labels are held out to test")] = 14,
) -> None:
    """Data -> train (resumable) -> ONNX -> calibrate -> evaluate -> model card, in one command."""
    from edge.training.dataset import set_cell_size
    from edge.training.recipe import DataSpec, load_training_data
    from edge.training.synthetic import GENERATOR_VERSION
    from edge.training.train import TrainConfig, export_onnx, train

    if real_labels not in ("soft", "hard"):
        raise typer.BadParameter("soft or hard", param_hint="--real-labels")
    set_cell_size(input_size)
    command = "eltrace model train " + " ".join(shlex.quote(a) for a in sys.argv[3:] if a)
    floor_test: Path | None = None
    floor_info = "not used"
    if from_labels:
        if factory_data:
            console.print("[red]--from-labels and --factory-data: give one of them[/]")
            raise typer.Exit(2)
        factory_data, floor_test, floor_info = _floor_label_sets(work_dir / f"labels-{version}", holdout_days)
        fmt, grid = "folder", None
    spec = DataSpec(
        synthetic_strings=strings,
        elpv=elpv,
        factory_dir=str(factory_data) if factory_data else None,
        factory_format=fmt if factory_data else None,
        factory_grid=grid,
        elpv_split=elpv_split,
        pasted=pasted,
        defect_rate=defect_rate,
    )
    data = load_training_data(spec, work_dir, log=console.print)
    console.print(f"{len(data)} training cells")
    norm = {"mean": 0.5, "std": 0.5} if arch != "cellnet" else {}  # EfficientNet-Lite was trained on (x - 127) / 128
    cfg = TrainConfig(
        epochs=epochs,
        width=_width(width),
        seed=seed,
        lr=lr,
        arch=arch,
        elpv_weight=elpv_weight,
        batch=batch,
        threads=threads,
        real_labels=real_labels,
        **norm,
    )
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
            "synthetic": f"{strings} strings (seeds 0..{strings - 1}, all four recipes, 1.2 MP, {defect_rate:.0%} defective cells,"
            f" generator v{GENERATOR_VERSION}: every defect visible)",
            "elpv": f"{elpv_split} split" if elpv else "not used",
            "pasted": f"{pasted:.0%} of the functional ELPV {elpv_split} cells, one random defect type each"
            if pasted
            else "not used",
            "factory": str(factory_data) if factory_data and not from_labels else "not used",
            "floor_labels": floor_info,
            "train_cells": len(data),
            "arch": arch,
        },
        eval_elpv=eval_elpv,
    )
    if floor_test is not None:
        # The newest weeks of the floor's own labels, never trained on: the new model beside the one it started from.
        baseline = init_from if init_from and (init_from / "model.onnx").exists() else _default_baseline(model_dir)
        _evaluate_model(
            model_dir,
            baseline=baseline,
            data=floor_test,
            fmt="folder",
            work_dir=work_dir,
            out=model_dir / "eval" / "floor-labels",
        )
    if set_default:
        (models_dir / name / "DEFAULT").write_text(version + "\n")
    console.print(f"[green]model {name} {version} written to {model_dir}[/]")


def _floor_label_sets(out: Path, holdout_days: int) -> tuple[Path, Path, str]:
    """The floor's labelled cells as two folders of crops: train (older) and test (the newest `holdout_days`)."""
    import shutil
    from datetime import timedelta

    from cli.labels import write_labels
    from cli.main import _core, _sessions
    from services.core.db import transaction
    from services.imagestore.store import DirectoryBlobStore
    from services.labels.service import floor_labels

    s = _core()
    with transaction(_sessions(s.resolved_database_url())) as session:
        labels = [lab for lab in floor_labels(session=session) if lab.box]  # an escape has no cell box to crop
    if not labels:
        console.print("[red]no labelled cells with a box in the database yet[/]: review and disposition some first")
        raise typer.Exit(1)
    cutoff = max(lab.at for lab in labels) - timedelta(days=holdout_days)
    older, newest = [lab for lab in labels if lab.at < cutoff], [lab for lab in labels if lab.at >= cutoff]
    if not older:
        console.print(f"[red]every label is from the newest {holdout_days} days[/]: nothing older to train on (--holdout-days)")
        raise typer.Exit(1)
    blobs = DirectoryBlobStore(s.resolved_image_dir())
    shutil.rmtree(out, ignore_errors=True)  # the split is made again from the database, never mixed with an old one
    (n_train, left_train), (n_test, left_test) = (
        write_labels(part, blobs, out / name / "labels.csv", crops=True)
        for part, name in ((older, "floor-labels-train"), (newest, "floor-labels-test"))
    )
    info = (
        f"{n_train} floor-labelled cells before {cutoff:%Y-%m-%d %H:%M} UTC trained; the {n_test} of the newest "
        f"{holdout_days} days test (never trained on); {left_train + left_test} without a stored image left out"
    )
    console.print(info)
    return out / "floor-labels-train", out / "floor-labels-test", info


def _calibrate_and_report(
    model_dir: Path,
    *,
    calib_strings: int,
    test_strings: int,
    target_miss: float,
    work_dir: Path,
    command: str,
    data_info: dict,
    target_false_ng: float = 0.01,
    baseline: Path | None = None,
    eval_elpv: bool = True,
) -> dict[str, object]:
    """Calibrate both operating points on held-out cells, evaluate beside the baseline, write the card."""
    from edge.training.card import write_card

    calibration = _calibrate_model(
        model_dir, calib_strings=calib_strings, target_miss=target_miss, target_false_ng=target_false_ng, work_dir=work_dir
    )
    payload = _evaluate_model(
        model_dir, baseline=baseline or _default_baseline(model_dir), synthetic=test_strings, elpv=eval_elpv, work_dir=work_dir
    )
    write_card(model_dir, command=command, evaluation=payload, calibration=calibration, data_info=data_info)
    return payload


def _default_baseline(model_dir: Path) -> Path | None:
    """1.1.0, the compact CNN every report shows beside a new model (same cells, same run)."""
    base = model_dir.parent / "1.1.0"
    return base if (base / "model.onnx").exists() and base.resolve() != model_dir.resolve() else None


def _calibration_sets(calib_strings: int, work_dir: Path) -> dict[str, object]:
    """Held-out calibration cells: synthetic strings (seeds 500000+), the ELPV calibration part, and
    typed defects pasted on its functional cells. None of them is trained on."""
    from edge.training.dataset import elpv_cells, pasted_defects
    from edge.training.recipe import synthetic_eval_set

    sets: dict[str, object] = {"synthetic-calib": synthetic_eval_set("calib", calib_strings, work_dir)}
    try:
        sets["elpv-calib"] = elpv_cells("calib")
        sets["pasted-calib"] = pasted_defects("calib", per_cell=0.5, seed=23)
    except ImportError:
        console.print("elpv-dataset not installed: calibrating on synthetic cells only")
    return sets


def _calibrate_model(
    model_dir: Path,
    *,
    calib_strings: int,
    target_miss: float,
    target_false_ng: float,
    work_dir: Path,
    data: Path | None = None,
    fmt: str = "folder",
    grid: str | None = None,
    station_rules: Path | None = None,
) -> dict[str, object]:
    """Both operating points from calibration cells; into the model's metadata, or a station's rules file."""
    from edge.training.evaluate import calibrate_triage, score_reference, triage_figures
    from edge.training.train import set_threshold

    sets, p_def, is_def, source = _score_calibration_cells(model_dir, calib_strings, work_dir, data, fmt, grid)
    points, detail = calibrate_triage(p_def, is_def, source, target_miss=target_miss, target_false_ng=target_false_ng)
    per_set = {name: triage_figures(p_def[source == name], is_def[source == name], points) for name in sets}
    calibration = {
        "ok_threshold": points.ok_threshold,
        "ng_threshold": points.ng_threshold,
        **detail,
        "sets": {name: f"{len(c)} cells, {int((c.p_def >= 0.5).sum())} defective" for name, c in sets.items()},  # type: ignore[attr-defined]
        "figures_on_calibration_cells": per_set,
    }
    if station_rules is not None:
        current = json.loads(station_rules.read_text()) if station_rules.exists() else {}
        current.update(
            {
                "ok_threshold": points.ok_threshold,
                "ng_threshold": points.ng_threshold,
                "calibrated_on": str(data or "calibration sets"),
            }
        )
        current.pop("defect_threshold", None)
        station_rules.write_text(json.dumps(current, indent=1) + "\n")
    else:
        set_threshold(
            model_dir,
            points.ok_threshold,
            {
                "operating_points": {"ok_threshold": points.ok_threshold, "ng_threshold": points.ng_threshold},
                "calibration": calibration,
            },
        )
        # Keep the registry's metadata.json true to the ONNX it describes. A model fresh from train or
        # quantize has none yet: the score reference goes in now, and the card keeps it when it writes the rest.
        from edge.inference.model import file_sha256

        meta_path = model_dir / "metadata.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        meta.update(
            sha256=file_sha256(model_dir / "model.onnx"),
            defect_threshold=points.ok_threshold,
            operating_points={"ok_threshold": points.ok_threshold, "ng_threshold": points.ng_threshold},
            calibration=calibration,
            score_reference=score_reference(p_def, is_def),
        )
        meta_path.write_text(json.dumps(meta, indent=1, default=float))
    for name, f in per_set.items():
        console.print(
            f"{name}: missed {f['misses']}/{f['defects']} ({f['miss_rate']:.3%}), auto-NG false calls "
            f"{f['auto_ng_false_call_rate']:.3%}, review load {f['review_load']:.2%}"
        )
    console.print(f"operating points: OK below {points.ok_threshold:.5f}, NG from {points.ng_threshold:.5f}")
    return calibration


def _score_calibration_cells(
    model_dir: Path, calib_strings: int, work_dir: Path, data: Path | None = None, fmt: str = "folder", grid: str | None = None
) -> tuple[dict[str, object], Any, Any, Any]:
    """The calibration sets and the model's p(defect), truth and set name of every cell in them."""
    import numpy as np

    from edge.inference.model import CellClassifier
    from edge.training.dataset import factory_cells
    from edge.training.evaluate import predict

    model = CellClassifier.load(model_dir)
    _cut_cells_for(model)
    sets = {data.name: factory_cells(data, fmt, grid=_grid(grid))} if data else _calibration_sets(calib_strings, work_dir)
    p_parts, d_parts, s_parts = [], [], []
    for name, cells in sets.items():
        probs = predict(model, cells)  # type: ignore[arg-type]
        p_parts.append(1 - probs[:, 0])
        d_parts.append(cells.p_def >= 0.5)  # type: ignore[attr-defined]
        s_parts.append(np.full(len(probs), name))
    return sets, np.concatenate(p_parts), np.concatenate(d_parts), np.concatenate(s_parts)


def _cut_cells_for(*models: object) -> None:
    """Cut evaluation cells at the largest input any of these models takes (each resizes down to its own)."""
    from edge.training.dataset import set_cell_size

    set_cell_size(max(max(m.info.input_size) for m in models))  # type: ignore[attr-defined]


def _evaluate_model(
    model_dir: Path,
    *,
    baseline: Path | None,
    synthetic: int = 0,
    elpv: bool = False,
    data: Path | None = None,
    fmt: str = "folder",
    grid: str | None = None,
    work_dir: Path = Path("data/train"),
    out: Path | None = None,
) -> dict[str, object]:
    """Reports of the model and the baseline on the same cells; eval/ gets JSON + Markdown; returns every figure."""
    from edge.inference.model import CellClassifier
    from edge.training import report as rep
    from edge.training.dataset import elpv_raw, factory_cells
    from edge.training.recipe import synthetic_eval_set

    models = {"model": CellClassifier.load(model_dir)}
    if baseline is not None:
        models["baseline"] = CellClassifier.load(baseline)
    _cut_cells_for(*models.values())
    sets: dict[str, object] = {}
    if data:
        sets[data.name] = factory_cells(data, fmt, grid=_grid(grid))
    if synthetic:
        sets["synthetic-test"] = synthetic_eval_set("test", synthetic, work_dir)
    elpv_images = None
    if elpv:
        import numpy as np

        from edge.training.dataset import CellSet

        elpv_images, p, kinds = elpv_raw("test")
        sets["real-elpv-test"] = CellSet(
            np.zeros((len(p), 1, 1), np.uint8), np.full(len(p), -1), p, np.ones(len(p), np.int8), np.arange(len(p)), kind=kinds
        )
    if not sets:
        raise typer.BadParameter("give --data, --synthetic N or --elpv")
    reports: dict[str, dict[str, dict]] = {k: {} for k in models}
    for name, cells in sets.items():
        for role, m in models.items():
            t0 = time.perf_counter()
            # The real cells go through the edge's own path; cut cells straight through the model.
            edge_path = name == "real-elpv-test"
            scored = rep.score_through_inspector(m, elpv_images) if edge_path else rep.score_cells(m, cells)  # type: ignore[arg-type]
            r = rep.triage_report(scored, cells, rep.points_of(m), name=name)  # type: ignore[arg-type]
            r["seconds"] = round(time.perf_counter() - t0, 1)
            reports[role][name] = r
    info = {role: {"name": m.info.name, "version": m.info.version, "sha256": m.info.sha256} for role, m in models.items()}
    payload: dict[str, object] = {"models": info, "reports": reports}
    md = rep.compare(
        reports["model"],
        reports.get("baseline", {}),
        model=models["model"].info.version,
        baseline=models["baseline"].info.version if "baseline" in models else "",
    )
    rep.write(out or (model_dir / "eval"), "evaluation", payload, md)
    print(md)
    return payload


@model_app.command("calibrate")
def calibrate_cmd(
    model_dir: Path,
    target_miss: Annotated[float, typer.Option(help="Miss target for NG + REVIEW (95 % upper bound)")] = 0.003,
    target_false_ng: Annotated[float, typer.Option(help="Auto-NG false calls allowed, share of OK cells")] = 0.01,
    strings: Annotated[int, typer.Option(help="Held-out synthetic strings to calibrate on")] = 150,
    data: Annotated[Path | None, typer.Option(help="Calibrate on a factory's (a station's) labelled set instead")] = None,
    fmt: Annotated[str, typer.Option("--format", help=FORMATS)] = "folder",
    grid: str | None = None,
    station_rules: Annotated[
        Path | None, typer.Option(help="Write the operating points into this station's rules file, not the model")
    ] = None,
    work_dir: Path = Path("data/train"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object as the last line")] = False,
) -> None:
    """Set both operating points (OK / REVIEW / NG) from labelled cells the model never trained on."""
    calibration = _calibrate_model(
        model_dir,
        calib_strings=strings,
        target_miss=target_miss,
        target_false_ng=target_false_ng,
        work_dir=work_dir,
        data=data,
        fmt=fmt,
        grid=grid,
        station_rules=station_rules,
    )
    if as_json:
        print(json.dumps(calibration, default=float))


@model_app.command("reference")
def reference_cmd(
    model_dir: Path,
    strings: Annotated[int, typer.Option(help="Held-out synthetic strings of the calibration set")] = 150,
    work_dir: Path = Path("data/train"),
) -> None:
    """Write the model's validation score distribution (what drift is measured against) into its metadata.json.

    The same cells the operating points were calibrated on; the thresholds are left as they are.
    """
    from edge.training.evaluate import score_reference

    _sets, p_def, is_def, _source = _score_calibration_cells(model_dir, strings, work_dir)
    ref = score_reference(p_def, is_def)
    meta_path = model_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["score_reference"] = ref
    meta_path.write_text(json.dumps(meta, indent=1, default=float))
    console.print(f"score reference of {ref['ok_cells']} OK and {ref['defect_cells']} defective cells written to {meta_path}")


@model_app.command("quantize")
def quantize_cmd(
    model_dir: Path,
    version: Annotated[str, typer.Option(help="Version folder for the INT8 model (e.g. 2.0.0-int8)")],
    calib_strings: int = 150,
    target_miss: Annotated[float, typer.Option(help=SHIPPED_MISS_HELP)] = SHIPPED_TARGET_MISS,
    target_false_ng: float = 0.01,
    work_dir: Path = Path("data/train"),
    elpv_eval: Annotated[bool, typer.Option(help="Evaluate float and INT8 side by side afterwards")] = True,
    test_strings: int = 300,
) -> None:
    """Static INT8 (onnxruntime, QDQ) calibrated on real cells; recalibrates the operating points, evaluates beside the float model."""
    import numpy as np

    from edge.inference.model import CellClassifier
    from edge.training.card import write_card
    from edge.training.dataset import elpv_cells
    from edge.training.recipe import synthetic_eval_set
    from edge.training.train import quantize_int8

    _cut_cells_for(CellClassifier.load(model_dir))
    dst = model_dir.parent / version
    # Activation ranges from real ELPV calibration cells plus held-out synthetic ones (never trained on).
    # The percentile calibrator keeps every activation in memory: ~200 cells fit in 24 GiB with room to spare.
    real, synth = elpv_cells("calib").x, synthetic_eval_set("calib", calib_strings, work_dir).x
    pick = np.random.default_rng(0)
    cells = np.concatenate([real[pick.choice(len(real), 144, replace=False)], synth[pick.choice(len(synth), 48, replace=False)]])
    quantize_int8(model_dir, dst, cells, version=version)
    # No weights.pt here: fine-tune from the float model (quantize again after).
    calibration = _calibrate_model(
        dst, calib_strings=calib_strings, target_miss=target_miss, target_false_ng=target_false_ng, work_dir=work_dir
    )
    if elpv_eval:
        payload = _evaluate_model(dst, baseline=model_dir, synthetic=test_strings, elpv=True, work_dir=work_dir)
        meta = json.loads((model_dir / "metadata.json").read_text()) if (model_dir / "metadata.json").exists() else {}
        command = "eltrace model quantize " + " ".join(shlex.quote(a) for a in sys.argv[3:] if a)
        write_card(
            dst,
            command=command,
            evaluation=payload,
            calibration=calibration,
            data_info={**meta.get("data", {}), "quantized_from": str(model_dir)},
        )
    console.print(f"[green]INT8 model written to {dst}[/]")


@model_app.command("make-site-set")
def make_site_set_cmd(
    out: Path = Path("data/site"),
    cols: Annotated[int, typer.Option(help="Cells per row image")] = 6,
    split: Annotated[str, typer.Option(help="ELPV split to tile (test: cells no model here trained on)")] = "test",
) -> None:
    """A factory-style set for site-adaptation drills: ELPV cells tiled into full-frame rows with Pascal VOC boxes."""
    from edge.training.siteset import make_site_set

    counts = make_site_set(out, split=split, cols=cols)
    console.print(f"rows written to {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


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
    elpv: Annotated[
        bool, typer.Option(help="Also evaluate on the reserved ELPV test split (through the edge's Inspector)")
    ] = False,
    baseline: Annotated[Path | None, typer.Option(help="Model shown beside (default: 1.1.0 of the same name)")] = None,
    no_baseline: Annotated[bool, typer.Option("--no-baseline")] = False,
    out: Path | None = None,
    work_dir: Path = Path("data/train"),
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """Triage figures (miss, auto-NG false calls, review load), AUC, accuracy, per source and class, beside the baseline."""
    payload = _evaluate_model(
        model_dir,
        baseline=None if no_baseline else (baseline or _default_baseline(model_dir)),
        synthetic=synthetic,
        elpv=elpv,
        data=data,
        fmt=fmt,
        grid=grid,
        work_dir=work_dir,
        out=out,
    )
    console.print(f"reports in {out or (model_dir / 'eval')}")
    if as_json:
        print(json.dumps(payload, default=float))


def inspect_cmd(
    images: Annotated[list[Path], typer.Argument(help="String EL images")],
    grid: Annotated[str, typer.Option(help="Cell grid RxC")] = "2x12",
    recipe: str = "half-2x12",
    cell_aspect: Annotated[float | None, typer.Option(help="Cell width/height (checks the outline)")] = None,
    layout: Annotated[str, typer.Option(help="framed | full-frame | auto")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Full JSON result per line (every cell, OK ones too)")] = False,
    overlay: Annotated[Path | None, typer.Option(help="Write overlay PNGs here")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model", help="Model folder (default: models/.../DEFAULT)")] = None,
) -> None:
    """Judge images on this machine: one JSON line per image (verdict, cells, timings)."""
    import cv2

    from cli.runtime import models_root
    from edge.inference.model import resolve_model_dir
    from edge.overlay import render_overlay
    from edge.pipeline import Recipe
    from edge.wiring import load_inspector
    from services.contracts import Grid

    inspector = load_inspector(model_dir or resolve_model_dir(models_root()))
    rec = Recipe(recipe, Grid.parse(grid), cell_aspect, layout=layout)
    for path in images:
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(json.dumps({"image": str(path), "verdict": "ERROR", "error": f"cannot read the file: {exc}", "cells": []}))
            continue
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
                        "decision": c.effective_decision.value,
                        "p_defect": c.p_defect,
                        "cls": c.cls,
                        "top_class": c.top_class,
                        "top_score": c.top_score,
                        "box": [c.box.x, c.box.y, c.box.w, c.box.h],
                    }
                    for c in env.cells
                    if c.effective_decision.value != "OK"
                ],
            }
        line["image"] = str(path)
        print(json.dumps(line))
        if overlay is not None and out.decoded is not None:
            overlay.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(overlay / (path.stem + ".overlay.png")), render_overlay(out.decoded.pixels, env))
    raise typer.Exit(0)


def _bench_models(default: Path) -> list[Path]:
    """The default model, its float / INT8 twin, and the 1.1.0 baseline: the rows of `bench edge`."""
    base = default.parent
    name = default.name
    twin = base / (name.removesuffix("-int8") if name.endswith("-int8") else f"{name}-int8")
    out = [default, *([twin] if (twin / "model.onnx").exists() else [])]
    if (base / "1.1.0" / "model.onnx").exists() and default.name != "1.1.0":
        out.append(base / "1.1.0")
    return out


def bench_edge(*, images: int, seconds: float, console: Console, versions: list[str] | None = None) -> None:
    """End-to-end edge latency per 4 MP string image (24 cells), 8- and 16-bit, single and sustained, per model."""
    import os
    import platform
    import resource

    import cv2
    import numpy as np
    from rich.table import Table

    from cli.runtime import models_root
    from edge.acquisition.decode import decode
    from edge.inference.model import resolve_model_dir
    from edge.overlay import render_overlay
    from edge.pipeline import Inspector, Recipe
    from edge.training.synthetic import generate_string
    from edge.wiring import load_inspector
    from services.contracts import Grid

    root = models_root()
    dirs = [resolve_model_dir(root, version=v) for v in versions] if versions else _bench_models(resolve_model_dir(root))
    rec = Recipe("half-2x12", Grid(rows=2, cols=12), 2.0)
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; onnxruntime CPU, 2 threads; models: {', '.join(d.name for d in dirs)}"
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
    table = Table(title="edge end to end per string image (decode, segment, preprocess, infer, decide, overlay)")
    for c in ("model", "image set", "mode", "images", "p50 ms", "p95 ms", "images/min", "stage share (median ms)"):
        table.add_column(c)
    baseline = Table(title="baselines in the same run (same images)")
    for c in ("baseline", "p50 ms", "p95 ms"):
        baseline.add_column(c)
    for name, files in sets.items():
        dec = []
        for f in files:
            t = time.perf_counter()
            decode(f)
            dec.append((time.perf_counter() - t) * 1000)
        baseline.add_row(f"{name}: decode only (floor)", f"{np.percentile(dec, 50):.0f}", f"{np.percentile(dec, 95):.0f}")
    summary: dict[str, dict[str, float]] = {}
    for model_dir in dirs:
        inspector = load_inspector(model_dir, device_id="bench", station_id="bench", warm_up=True)
        model = inspector.classifier
        label = f"{model.info.version} ({'int8' if model.info.extra.get('precision') == 'int8' else 'float'}, "
        label += f"{(model_dir / 'model.onnx').stat().st_size / 1e6:.1f} MB)"

        def run(data: bytes, inspector: Inspector = inspector) -> dict[str, float]:
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

        for name, files in sets.items():
            run(files[0])  # warm-up (allocations, ORT arena)
            single = [run(f) for f in files]
            e2e = np.array([s["e2e"] for s in single])
            stages = {
                k: float(np.median([s[k] for s in single]))
                for k in ("decode", "segment", "preprocess", "infer", "decide", "overlay")
            }
            table.add_row(
                label,
                name,
                "single",
                str(len(single)),
                f"{np.percentile(e2e, 50):.0f}",
                f"{np.percentile(e2e, 95):.0f}",
                f"{60000 / e2e.mean():.0f}",
                ", ".join(f"{k} {v:.0f}" for k, v in stages.items()),
            )
            t0, done, lat = time.perf_counter(), 0, []
            while time.perf_counter() - t0 < seconds:
                lat.append(run(files[done % len(files)])["e2e"])
                done += 1
            el = time.perf_counter() - t0
            lat_a = np.array(lat)
            table.add_row(
                label,
                name,
                f"sustained {seconds:.0f} s",
                str(done),
                f"{np.percentile(lat_a, 50):.0f}",
                f"{np.percentile(lat_a, 95):.0f}",
                f"{done / el * 60:.0f}",
                "",
            )
            summary[f"{model.info.version}/{name}"] = {
                "sustained_p50_ms": float(np.percentile(lat_a, 50)),
                "sustained_p95_ms": float(np.percentile(lat_a, 95)),
                "single_p95_ms": float(np.percentile(e2e, 95)),
                "infer_median_ms": stages["infer"],
            }
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
        baseline.add_row(
            f"{label}: 24 cells, one batched ONNX call", f"{np.percentile(batched, 50):.0f}", f"{np.percentile(batched, 95):.0f}"
        )
        baseline.add_row(
            f"{label}: 24 cells, one ONNX call per cell",
            f"{np.percentile(unbatched, 50):.0f}",
            f"{np.percentile(unbatched, 95):.0f}",
        )
    console.print(table)
    console.print(baseline)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"peak RSS: {rss:.0f} MB (includes image generation and every model)")
    figures = getattr(console, "figures", None)
    if isinstance(figures, dict):
        figures.update({"per_model": summary, "peak_rss_mb": rss, "target_p95_ms_8bit_sustained": 100, "source_budget_ms": 2000})


def register_folder(session: Any, blobs: Any, model_dir: Path, actor: str) -> tuple[Any, bool]:
    """Register a model folder (model.onnx, metadata.json, model card, evaluation); (the version, whether it is new)."""
    from services.registry.service import register

    card = model_dir / "model_card.md"
    evaluation = model_dir / "eval" / "evaluation.json"
    return register(
        session=session,
        blobs=blobs,
        onnx=(model_dir / "model.onnx").read_bytes(),
        metadata=json.loads((model_dir / "metadata.json").read_text()),
        card=card.read_text(encoding="utf-8") if card.is_file() else "",
        evaluation=json.loads(evaluation.read_text()) if evaluation.is_file() else None,
        actor=actor,
    )


@model_app.command("register")
def register_cmd(
    model_dir: Path,
    actor: Annotated[str, typer.Option("--by", help="Who registers it (the audit trail's actor)")] = "cli",
) -> None:
    """Register a model folder (model.onnx, metadata.json, model card, evaluation) in the database's registry."""
    from cli.main import _core, _sessions
    from services.core.db import transaction
    from services.core.errors import DomainError
    from services.imagestore.store import DirectoryBlobStore

    if not (model_dir / "model.onnx").is_file() or not (model_dir / "metadata.json").is_file():
        console.print(f"[red]{model_dir} needs model.onnx and metadata.json[/]")
        raise typer.Exit(2)
    s = _core()
    try:
        with transaction(_sessions(s.resolved_database_url())) as session:
            read, new = register_folder(session, DirectoryBlobStore(s.resolved_image_dir()), model_dir, actor)
    except DomainError as exc:
        console.print(f"[red]not registered:[/] {exc.detail}")
        raise typer.Exit(1) from exc
    state = "registered" if new else "already registered"
    console.print(f"{read.name} {read.version} {state} (sha256 {read.sha256[:16]}..., {read.size_bytes:,} bytes)")


@model_app.command("compare")
def compare_cmd(
    station: Annotated[str, typer.Option(help="The station whose shadow period to report")],
    since: Annotated[str | None, typer.Option(help="First plant day, e.g. 2026-11-01")] = None,
    until: Annotated[str | None, typer.Option(help="Last plant day (included)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on the last line")] = False,
) -> None:
    """Live vs shadow model on the same images of a station, against the floor's labels (misses, false calls, load, time)."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    from cli.main import _core, _sessions
    from services.core.db import transaction
    from services.labels.compare import compare

    s = _core()
    zone = ZoneInfo(s.plant_timezone)

    def start(day: str | None, plus: int = 0) -> datetime | None:
        return datetime.combine(date.fromisoformat(day) + timedelta(days=plus), datetime.min.time(), zone) if day else None

    with transaction(_sessions(s.resolved_database_url())) as session:
        report = compare(session=session, station=station, since=start(since), until=start(until, 1))
    table = Table(title=f"{station}: live vs shadow on {report.images} images")
    for col in ("model", "role", "images", "review load", "missed / labelled defects", "false calls / labelled OK",
                "auto-NG false calls", "flagged, no label", "ms p50 / p95", "errors"):  # fmt: skip
        table.add_column(col)
    for role, rows in (("live", report.live), ("shadow", report.shadow)):
        for f in rows:
            table.add_row(
                f.version, role, str(f.images), f"{f.review_load:.2%}", f"{f.missed} / {f.labelled_defects}",
                f"{f.false_calls} / {f.labelled_ok}", str(f.auto_ng_false_calls), str(f.flagged_unlabelled),
                f"{f.ms_p50} / {f.ms_p95}", str(f.errors),
            )  # fmt: skip
    console.print(table)
    agree = "-" if report.verdict_agreement is None else f"{report.verdict_agreement:.2%}"
    cells = "-" if report.cell_agreement is None else f"{report.cell_agreement:.2%}"
    console.print(f"string verdicts agree on {agree} of the images, cell decisions on {cells}")
    if as_json:
        print(report.model_dump_json())
