"""Model card and metadata.json of a registered model version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from edge.inference.model import CellClassifier
from edge.training.classes import CLASSES, LABELS


def _pct(v: float) -> str:
    return f"{v:.3%}"


def write_card(model_dir: Path, *, command: str, reports: dict[str, dict], calibration: dict, data_info: dict) -> None:
    """Write model_card.md and metadata.json next to model.onnx."""
    model = CellClassifier.load(model_dir)
    info = model.info
    meta = {
        "name": info.name,
        "version": info.version,
        "sha256": info.sha256,
        "classes": list(info.classes),
        "input_size": list(info.input_size),
        "mean": info.mean,
        "std": info.std,
        "defect_threshold": info.defect_threshold,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "training_data_sha256": info.extra.get("training_data_sha256"),
        "data": data_info,
        "calibration": calibration,
        "metrics": {k: {"roc_auc": r.get("roc_auc"), **r["operating_point"]} for k, r in reports.items()},
    }
    (model_dir / "metadata.json").write_text(json.dumps(meta, indent=1))
    syn = reports.get("synthetic-test")
    elpv = reports.get("real-elpv-test")
    lines = [
        f"# Model card: {info.name} {info.version}",
        "",
        "## Intended use",
        "Per-cell OK/defect classification of string EL images (after stringer, before layup) on the eltrace edge worker,",
        "after cell segmentation. It flags cells for an operator and a rework loop; it does not replace the quality",
        "engineer's disposition. Out of scope: post-lamination module EL without re-validation, IR or PL images.",
        "",
        "## Model",
        f"- file: `model.onnx` ({(model_dir / 'model.onnx').stat().st_size / 1024:.0f} KiB), sha256 `{info.sha256}`",
        f"- compact CNN (4 conv stages, class-activation head), input {info.input_size[0]}x{info.input_size[1]} grayscale,",
        f"  normalised (x - {info.mean}) / {info.std}; outputs class probabilities and a 10x10 defect heat map (for the defect box)",
        f"- classes: {', '.join(f'`{c}` ({LABELS[c]})' for c in CLASSES)}",
        f"- operating point: a cell is defective when p(defect) = 1 - p(ok) >= **{info.defect_threshold:.5f}**",
        f"  ({calibration.get('rule', '')}; calibration set: {calibration.get('set', '')})",
        "",
        "## Data and licences",
        f"- synthetic strings rendered by `edge/training/synthetic.py` (seeded; this project's own): {data_info.get('synthetic', '')}",
        "- ELPV dataset (Buerhop-Lutz et al. 2018; Deitsch et al. 2019), from the `elpv-dataset` PyPI package,",
        "  **CC BY-NC-SA 4.0**: non-commercial use, share-alike, attribution. Cells with load-order index % 5 == 0 are the",
        "  reserved test split and were never used for training or tuning. Labels are defect probabilities",
        "  (0, 1/3, 2/3, 1); they train p(defect) only (no defect type). A commercial deployment must retrain without ELPV",
        "  (`--no-elpv`) or obtain a licence.",
        f"- training cells: {data_info.get('train_cells', '')}; training data sha256 `{info.extra.get('training_data_sha256')}`",
        "",
        "## Metrics (data the model never saw)",
    ]
    if syn:
        op = syn["operating_point"]
        b = syn["bootstrap95"]
        lines += [
            f"### Held-out synthetic strings ({syn['cells']} cells from 4 MP images, seeds disjoint from training and calibration)",
            f"- missed defective cells: {op['misses']} / {op['defects']} = **{_pct(op['miss_rate'])}**, one-sided 95% upper bound (Clopper-Pearson) **{_pct(op['miss_upper95'])}** (target 0.3 %)",
            f"- false calls: {op['false_calls']} / {op['ok_cells']} OK cells = **{_pct(op['false_call_rate'])}** (bootstrap 95%: {_pct(b['false_call_rate'][0])} - {_pct(b['false_call_rate'][1])})",
            f"- per image: {syn['per_image']['missed_images']} / {syn['per_image']['defective_images']} defective strings missed; {syn['per_image']['false_call_images']} / {syn['per_image']['ok_images']} OK strings falsely called",
            f"- ROC AUC {syn['roc_auc']:.4f}; {syn.get('strings_refused_by_segmentation', 0)} test strings refused by segmentation "
            "(ERROR results, manual inspection; not in the cell figures)",
            f"- **miss target (<= 0.3 %, 95% bound): {'met' if op['miss_upper95'] <= 0.003 else 'NOT met'}; "
            f"false-call aim (<= 0.5 % of OK cells): {'met' if op['false_call_rate'] <= 0.005 else 'NOT met'}**",
            "",
            "What the miss target costs (same cells):",
            "",
            "| threshold | missed cells | 95% upper bound | false calls |",
            "|---:|---:|---:|---:|",
            *[
                f"| {t['threshold']:.4f} | {t['miss_rate']:.3%} | {t['miss_upper95']:.3%} | {t['false_call_rate']:.3%} |"
                for t in syn.get("tradeoff", [])
            ],
            "",
            "| class | cells | recall | 95% lower bound |",
            "|---|---:|---:|---:|",
        ]
        for c, v in syn.get("per_class_recall", {}).items():
            if v["cells"]:
                lines.append(f"| {c} | {v['cells']} | {v['recall']:.2%} | {v['recall_lower95']:.2%} |")
        lines.append("")
    if elpv:
        op = elpv["operating_point"]
        lines += [
            f"### Reserved ELPV test split ({elpv['cells']} real cells; defective = probability >= 0.5)",
            f"- ROC AUC **{elpv['roc_auc']:.3f}**; accuracy {elpv['best_accuracy']['accuracy']:.1%} at the best threshold ({elpv['best_accuracy']['threshold']:.2f}),",
            f"  {elpv['accuracy_at_operating_point']:.1%} at the calibrated operating point",
            f"- at the operating point: missed {op['misses']} / {op['defects']} defective cells ({_pct(op['miss_rate'])}), false calls {op['false_calls']} / {op['ok_cells']} ({_pct(op['false_call_rate'])})",
            "- anchors: SVM 82.4 %, VGG-19 88.4 % accuracy (Deitsch et al. 2019); aim: accuracy >= 90 %, AUC >= 0.93 "
            f"({'met' if elpv['roc_auc'] >= 0.93 and elpv['best_accuracy']['accuracy'] >= 0.9 else 'NOT met'})",
            "",
            "| threshold | missed cells | false calls |",
            "|---:|---:|---:|",
            *[f"| {t['threshold']:.4f} | {t['miss_rate']:.2%} | {t['false_call_rate']:.2%} |" for t in elpv.get("tradeoff", [])],
            "",
        ]
    lines += [
        "Full reports (JSON, Markdown, ROC/PR curves): `eval/` in this folder.",
        "",
        "## Known limits",
        "- The synthetic miss figure holds for the synthetic defect renderings; real lines differ. Before production, run",
        "  `eltrace model evaluate --data <factory set>` and recalibrate on the factory's own labelled cells.",
        "- The operating point was calibrated on synthetic cells; on real ELPV cells it calls far more cells defective",
        "  (see the ELPV false-call rate): the miss target is met by being strict, and the false calls are the price.",
        "- A dead (fully dark) cell at the very end of a string hides the string's outline: the image becomes ERROR.",
        "- Defect boxes come from a 10x10 class-activation map: coarse, good for pointing an operator, not for measuring.",
        "",
        "## Reproduce",
        "```",
        command,
        "```",
        "Training is seeded and resumable (checkpoint each epoch in the work directory); CPU only is fine.",
    ]
    (model_dir / "model_card.md").write_text("\n".join(lines) + "\n")
