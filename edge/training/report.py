"""Evaluation reports of the OK / REVIEW / NG triage: model beside its baseline, same cells, same run.

Every figure comes from the exported ONNX model. The ELPV test split goes through the edge's own
path (PNG bytes -> Inspector: decode, full-frame segmentation, preprocess, ONNX, rules), so what is
reported is what a station would decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.inference.model import CellClassifier
from edge.inference.rules import DecisionRules
from edge.training.classes import CLASSES
from edge.training.dataset import CellSet
from edge.training.evaluate import (
    TriagePoints,
    clopper_pearson_upper,
    per_kind,
    predict,
    roc_auc,
    triage_figures,
    triage_tradeoff,
)


@dataclass
class Scored:
    """p(defect) (and class probabilities where the path gives them) of one model on one set."""

    p_def: np.ndarray
    probs: np.ndarray | None
    errors: int = 0  # images the edge path turned into ERROR results (never counted as OK)
    error_reasons: list[str] | None = None


def points_of(model: CellClassifier) -> TriagePoints:
    """The operating points the model ships with."""
    return TriagePoints(model.info.ok_threshold, model.info.ng_threshold)


def score_cells(model: CellClassifier, cells: CellSet) -> Scored:
    """Cells already cut (synthetic strings, factory sets): straight through the ONNX model."""
    probs = predict(model, cells)
    return Scored(1.0 - probs[:, 0], probs)


def score_through_inspector(model: CellClassifier, images: np.ndarray, *, grid: tuple[int, int] = (1, 1)) -> Scored:
    """Whole images through the edge's Inspector, as `eltrace inspect` judges them.

    An image the edge cannot judge is an ERROR: it gets p(defect) = 1 here (it goes to manual
    inspection, never passes), and is counted.
    """
    from edge.pipeline import Inspector, Recipe
    from services.contracts import Grid

    inspector = Inspector(model, DecisionRules.for_model(model.info), device_id="evaluate", station_id="evaluate")
    recipe = Recipe(name="evaluate", grid=Grid(rows=grid[0], cols=grid[1]), layout="auto")
    p, reasons = [], []
    for i, img in enumerate(images):
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise ValueError(f"cell {i} could not be encoded as PNG")
        env = inspector.inspect(
            buf.tobytes(), barcode=f"EVAL{i:06d}", string_position=1, recipe=recipe, captured_at=datetime.now(UTC)
        ).envelope
        if env.verdict == "ERROR":
            reasons.append(env.error or "")
            p.extend([1.0] * (grid[0] * grid[1]))
            continue
        p.extend(float(c.p_defect if c.p_defect is not None else (1 - c.score if c.cls == "ok" else c.score)) for c in env.cells)
    return Scored(np.array(p, dtype=np.float64), None, errors=len(reasons), error_reasons=reasons[:20])


def triage_report(scored: Scored, cells: CellSet, points: TriagePoints, *, name: str) -> dict[str, object]:
    """Every figure of one model on one set at its operating points."""
    p_def, is_def = scored.p_def, cells.p_def >= 0.5
    ts = np.linspace(0.005, 0.995, 199)
    accs = [float(np.mean((p_def >= t) == is_def)) for t in ts]
    report: dict[str, object] = {
        "dataset": name,
        "cells": int(len(cells)),
        "defective": int(is_def.sum()),
        "roc_auc": roc_auc(p_def, is_def),
        "best_accuracy": {"accuracy": max(accs), "threshold": float(ts[int(np.argmax(accs))])},
        "triage": triage_figures(p_def, is_def, points),
        "tradeoff": triage_tradeoff(p_def, is_def, points),
        "per_kind": per_kind(p_def, is_def, cells.kind, points),
        "errors": scored.errors,
        "error_reasons": scored.error_reasons or [],
        "strings_refused_by_segmentation": int(cells.refused),
    }
    flagged = p_def >= points.ok_threshold
    if (cells.y >= 0).all():
        recall = {}
        for k, c in enumerate(CLASSES[1:], start=1):
            m = cells.y == k
            n, det = int(m.sum()), int(np.sum(flagged[m]))
            if n:
                recall[c] = {
                    "cells": n,
                    "detected": det,
                    "recall": det / n,
                    "recall_lower95": 1 - clopper_pearson_upper(n - det, n),
                }
        report["per_class_recall"] = recall
        if scored.probs is not None:
            pred = np.where(flagged, 1 + np.argmax(scored.probs[:, 1:], axis=1), 0)
            true_def = cells.y > 0
            report["defect_type_accuracy"] = (
                float(np.mean(pred[true_def & flagged] == cells.y[true_def & flagged])) if np.any(true_def & flagged) else None
            )
    if cells.group is not None and len(np.unique(cells.group)) < len(cells):
        ng = p_def >= points.ng_threshold
        per_img = {
            "images": 0,
            "defective": 0,
            "verdict_ng": 0,
            "verdict_review": 0,
            "missed": 0,
            "ok_images_flagged": 0,
            "ok_images": 0,
        }
        for g in np.unique(cells.group):
            m = cells.group == g
            per_img["images"] += 1
            per_img["verdict_ng"] += int(ng[m].any())
            per_img["verdict_review"] += int(not ng[m].any() and flagged[m].any())
            if is_def[m].any():
                per_img["defective"] += 1
                per_img["missed"] += int(np.any(is_def[m] & ~flagged[m]))
            else:
                per_img["ok_images"] += 1
                per_img["ok_images_flagged"] += int(flagged[m].any())
        report["per_image"] = per_img
    return report


def _row(
    lines: list[str], r: dict[str, Any], b: dict[str, Any] | None, label: str, key: str, fmt: str, src: str = "triage"
) -> None:
    mv = r[src][key] if src else r[key]
    bv = (b[src][key] if src else b[key]) if b else None
    lines.append(f"| {label} | {format(mv, fmt)} | {format(bv, fmt) if bv is not None else ''} |")


def compare(
    model_reports: dict[str, dict[str, Any]], baseline_reports: dict[str, dict[str, Any]], *, model: str, baseline: str
) -> str:
    """Markdown: the model beside the baseline for every set."""
    lines = [f"# Evaluation: {model} beside {baseline}", "", f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}.", ""]
    for name, r in model_reports.items():
        b = baseline_reports.get(name)
        t = r["triage"]
        lines += [f"## {name}", "", f"{r['cells']} cells, {r['defective']} defective (p >= 0.5).", ""]
        lines += ["| figure | " + model + " | " + (baseline if b else "") + " |", "|---|---:|---:|"]

        _row(lines, r, b, "ROC AUC", "roc_auc", ".4f", "")
        lines.append(
            f"| best accuracy (threshold) | {r['best_accuracy']['accuracy']:.2%} ({r['best_accuracy']['threshold']:.3f}) | "
            + (f"{b['best_accuracy']['accuracy']:.2%} ({b['best_accuracy']['threshold']:.3f})" if b else "")
            + " |"
        )
        _row(lines, r, b, "OK threshold", "ok_threshold", ".5f")
        _row(lines, r, b, "NG threshold", "ng_threshold", ".5f")
        _row(lines, r, b, "missed (neither NG nor REVIEW)", "miss_rate", ".3%")
        _row(lines, r, b, "missed, 95% upper bound", "miss_upper95", ".3%")
        _row(lines, r, b, "auto-NG false calls (of OK cells)", "auto_ng_false_call_rate", ".3%")
        _row(lines, r, b, "auto-NG precision", "auto_ng_precision", ".2%")
        _row(lines, r, b, "defects sent straight to rework", "defects_direct_ng", ".2%")
        _row(lines, r, b, "review load (of all cells)", "review_load", ".2%")
        _row(lines, r, b, "review load (of OK cells)", "review_load_ok_cells", ".2%")
        lines.append(f"| ERROR (not judged) | {r['errors']} | {b['errors'] if b else ''} |")
        if r.get("per_image"):
            pi = r["per_image"]
            lines.append(
                f"| images: NG / REVIEW / missed defective / flagged OK | {pi['verdict_ng']} / {pi['verdict_review']} / {pi['missed']} of {pi['defective']} / {pi['ok_images_flagged']} of {pi['ok_images']} | "
                + (
                    f"{b['per_image']['verdict_ng']} / {b['per_image']['verdict_review']} / {b['per_image']['missed']} of {b['per_image']['defective']} / {b['per_image']['ok_images_flagged']} of {b['per_image']['ok_images']}"
                    if b and b.get("per_image")
                    else ""
                )
                + " |"
            )
        if r["per_kind"]:
            lines += [
                "",
                "Per source (this model):",
                "",
                "| kind | cells | defective | AUC | missed | auto-NG false calls | review load |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for k, v in r["per_kind"].items():
                lines.append(
                    f"| {k} | {v['cells']} | {v['defects']} | {v['roc_auc']:.4f} | {v['miss_rate']:.3%} | {v['auto_ng_false_call_rate']:.3%} | {v['review_load']:.2%} |"
                )
        lines += [
            "",
            "Review load each OK threshold would cost (NG threshold fixed):",
            "",
            "| OK threshold | missed | 95% upper bound | review load | of OK cells |",
            "|---:|---:|---:|---:|---:|",
        ]
        for t in r["tradeoff"]:
            lines.append(
                f"| {t['ok_threshold']:.4f} | {t['miss_rate']:.3%} | {t['miss_upper95']:.3%} | {t['review_load']:.2%} | {t['review_load_ok_cells']:.2%} |"
            )
        if r.get("per_class_recall"):
            lines += ["", "| class | cells | NG or REVIEW | recall | 95% lower bound |", "|---|---:|---:|---:|---:|"]
            for c, v in r["per_class_recall"].items():
                lines.append(f"| {c} | {v['cells']} | {v['detected']} | {v['recall']:.2%} | {v['recall_lower95']:.2%} |")
        if r.get("errors"):
            lines += ["", "ERROR reasons (first ones): " + "; ".join(r["error_reasons"][:5])]
        lines.append("")
    return "\n".join(lines) + "\n"


def write(out_dir: Path, name: str, payload: dict[str, object], markdown: str) -> None:
    """JSON + Markdown side by side."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(payload, indent=1, default=float))
    (out_dir / f"{name}.md").write_text(markdown)
