"""Calibration of the operating point and evaluation on data the model never saw.

Every figure comes from the exported ONNX model (what the edge runs), on held-out data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference.model import CellClassifier
from edge.training.classes import CLASSES
from edge.training.dataset import CellSet
from services.contracts.scores import SCORE_EDGES, score_bin


def predict(model: CellClassifier, cells: CellSet, batch: int = 256) -> np.ndarray:
    """(N, C) probabilities for uint8 (N, 160, 160) cells, through the ONNX model."""
    out = []
    for i in range(0, len(cells), batch):
        crops = [c.astype(np.float32) / 255.0 for c in cells.x[i : i + batch]]
        probs, _heat = model.run(model.preprocess(crops))
        out.append(probs)
    return np.concatenate(out)


def clopper_pearson_upper(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided upper confidence bound of a binomial rate (k events in n trials)."""
    from scipy.stats import beta

    if n == 0:
        return 1.0
    if k >= n:
        return 1.0
    return float(beta.ppf(conf, k + 1, n - k))


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold on p(defect) with its measured miss and false-call rates."""

    threshold: float
    defects: int
    misses: int
    miss_rate: float
    miss_upper95: float
    ok_cells: int
    false_calls: int
    false_call_rate: float


def operating_point(p_def: np.ndarray, is_def: np.ndarray, t: float) -> OperatingPoint:
    """Rates at threshold t (a cell is called defective when p_def >= t)."""
    d = is_def.astype(bool)
    misses = int(np.sum(p_def[d] < t))
    fcs = int(np.sum(p_def[~d] >= t))
    nd, nok = int(d.sum()), int((~d).sum())
    return OperatingPoint(
        threshold=float(t),
        defects=nd,
        misses=misses,
        miss_rate=misses / max(nd, 1),
        miss_upper95=clopper_pearson_upper(misses, nd),
        ok_cells=nok,
        false_calls=fcs,
        false_call_rate=fcs / max(nok, 1),
    )


def calibrate(p_def: np.ndarray, is_def: np.ndarray, target_miss: float = 0.003) -> tuple[OperatingPoint, str]:
    """Highest threshold whose one-sided 95 % upper bound on the miss rate meets the target.

    With the defect scores sorted, a threshold at the k-th lowest score misses k defects; the
    largest k whose Clopper-Pearson bound meets the target gives the threshold. If no k can
    prove the target with this many defects, take the largest k whose point estimate meets it.
    """
    scores = np.sort(p_def[is_def.astype(bool)])
    n = len(scores)
    if n == 0:
        return operating_point(p_def, is_def, 0.5), "no defective cells to calibrate on"
    k_upper = -1
    while k_upper + 1 < n and clopper_pearson_upper(k_upper + 1, n) <= target_miss:
        k_upper += 1
    if k_upper >= 0:
        k, rule = k_upper, "highest threshold whose 95% upper bound of the miss rate meets the target"
    else:
        k, rule = int(np.floor(target_miss * n)), "only the point estimate meets the target (too few defects to prove it at 95%)"
    # Ties: step down to the first distinct score so that exactly the k lowest are missed at most.
    t = float(scores[k])
    while k > 0 and scores[k - 1] == t:
        k -= 1
    return operating_point(p_def, is_def, float(scores[k])), rule


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney)."""
    pos, neg = scores[labels.astype(bool)], scores[~labels.astype(bool)]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allv = np.concatenate([pos, neg])
    # average ranks of ties
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _bootstrap(fn, n: int, groups: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """95 % interval of fn(idx) resampling whole images (cells of a string are not independent)."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    members = {g: np.nonzero(groups == g)[0] for g in uniq}
    vals = []
    for _ in range(reps):
        pick = rng.choice(uniq, size=len(uniq), replace=True)
        idx = np.concatenate([members[g] for g in pick])
        vals.append(fn(idx))
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def evaluate(probs: np.ndarray, cells: CellSet, threshold: float, *, name: str, out_dir: Path | None = None) -> dict[str, object]:
    """Cell and image level rates, per-class recall, confusion matrix, AUC, curves (PNG) and intervals."""
    p_def = 1.0 - probs[:, 0]
    is_def = cells.p_def >= 0.5
    op = operating_point(p_def, is_def, threshold)
    groups = cells.group if cells.group is not None else np.arange(len(cells))
    called = p_def >= threshold
    report: dict[str, object] = {"dataset": name, "cells": int(len(cells)), "operating_point": op.__dict__}
    report["roc_auc"] = roc_auc(p_def, is_def)
    # The price of the miss target, for the quality engineer choosing an operating point.
    tradeoff = []
    for t in sorted({threshold, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9}):
        o = operating_point(p_def, is_def, t)
        tradeoff.append(
            {"threshold": t, "miss_rate": o.miss_rate, "miss_upper95": o.miss_upper95, "false_call_rate": o.false_call_rate}
        )
    report["tradeoff"] = tradeoff
    report["strings_refused_by_segmentation"] = int(cells.refused)
    # Accuracy at the operating point and at the best threshold (the latter as in Deitsch et al.).
    report["accuracy_at_operating_point"] = float(np.mean(called == is_def))
    ts = np.linspace(0.01, 0.99, 99)
    accs = [float(np.mean((p_def >= t) == is_def)) for t in ts]
    report["best_accuracy"] = {"accuracy": max(accs), "threshold": float(ts[int(np.argmax(accs))])}
    # Per image: a defective image is missed if any defective cell is missed; an OK image is a false call if any cell is called.
    img_def, img_miss, img_ok, img_fc = 0, 0, 0, 0
    for g in np.unique(groups):
        m = groups == g
        if is_def[m].any():
            img_def += 1
            img_miss += int(np.any(is_def[m] & ~called[m]))
        else:
            img_ok += 1
            img_fc += int(np.any(called[m]))
    report["per_image"] = {
        "defective_images": img_def,
        "missed_images": img_miss,
        "ok_images": img_ok,
        "false_call_images": img_fc,
        "image_miss_rate": img_miss / max(img_def, 1),
        "image_false_call_rate": img_fc / max(img_ok, 1),
    }

    def miss_fn(idx: np.ndarray) -> float:
        d = is_def[idx]
        return float(np.mean(~called[idx][d])) if d.any() else 0.0

    def fc_fn(idx: np.ndarray) -> float:
        d = ~is_def[idx]
        return float(np.mean(called[idx][d])) if d.any() else 0.0

    report["bootstrap95"] = {
        "miss_rate": _bootstrap(miss_fn, len(cells), groups),
        "false_call_rate": _bootstrap(fc_fn, len(cells), groups),
    }
    if (cells.y >= 0).all():
        pred = np.where(called, 1 + np.argmax(probs[:, 1:], axis=1), 0)
        cm = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
        np.add.at(cm, (cells.y, pred), 1)
        report["confusion_matrix"] = {"classes": list(CLASSES), "rows_true_cols_predicted": cm.tolist()}
        recall = {}
        for k, c in enumerate(CLASSES[1:], start=1):
            n = int((cells.y == k).sum())
            det = int(np.sum(called[cells.y == k]))
            recall[c] = {
                "cells": n,
                "detected": det,
                "recall": det / n if n else None,
                "recall_lower95": 1 - clopper_pearson_upper(n - det, n) if n else None,
            }
        report["per_class_recall"] = recall
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        _curves(p_def, is_def, threshold, out_dir / f"{name}-roc-pr.png", name)
        (out_dir / f"{name}.json").write_text(json.dumps(report, indent=1))
        (out_dir / f"{name}.md").write_text(to_markdown(report))
    return report


def _curves(p_def: np.ndarray, is_def: np.ndarray, t: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = np.unique(np.concatenate([np.linspace(0, 1, 501), [t]]))
    tpr = np.array([np.mean(p_def[is_def] >= x) for x in ts])
    fpr = np.array([np.mean(p_def[~is_def] >= x) for x in ts])
    prec = np.array([np.sum(is_def & (p_def >= x)) / max(1, np.sum(p_def >= x)) for x in ts])
    fig, ax = plt.subplots(1, 2, figsize=(9, 4))
    ax[0].plot(fpr, tpr)
    k = int(np.argmin(np.abs(ts - t)))
    ax[0].plot([fpr[k]], [tpr[k]], "ro", label=f"operating point t={t:.4f}")
    ax[0].set(xlabel="false-call rate (OK cells)", ylabel="recall (defective cells)", title=f"ROC - {title}")
    ax[0].legend(loc="lower right")
    ax[1].plot(tpr, prec)
    ax[1].plot([tpr[k]], [prec[k]], "ro")
    ax[1].set(xlabel="recall", ylabel="precision", title=f"PR - {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def to_markdown(r: dict[str, Any]) -> str:
    """A readable report."""
    op = r["operating_point"]
    b = r["bootstrap95"]
    pi = r["per_image"]
    lines = [
        f"# Evaluation: {r['dataset']}",
        "",
        f"- cells: {r['cells']}; defective {op['defects']}, OK {op['ok_cells']}",
        f"- operating point: p(defect) >= {op['threshold']:.5f}",
        f"- missed defective cells: {op['misses']} / {op['defects']} = {op['miss_rate']:.3%} (95% upper bound {op['miss_upper95']:.3%}; bootstrap 95% {b['miss_rate'][0]:.3%} - {b['miss_rate'][1]:.3%})",
        f"- false calls on OK cells: {op['false_calls']} / {op['ok_cells']} = {op['false_call_rate']:.3%} (bootstrap 95% {b['false_call_rate'][0]:.3%} - {b['false_call_rate'][1]:.3%})",
        f"- per image: missed {pi['missed_images']} / {pi['defective_images']} defective images, false calls on {pi['false_call_images']} / {pi['ok_images']} OK images",
        f"- ROC AUC {r['roc_auc']:.4f}; accuracy at the operating point {r['accuracy_at_operating_point']:.2%}; best accuracy {r['best_accuracy']['accuracy']:.2%} at t={r['best_accuracy']['threshold']:.2f}",
    ]
    if r.get("strings_refused_by_segmentation"):
        lines.append(
            f"- strings refused by segmentation (ERROR, to manual inspection; not in the cell figures): {r['strings_refused_by_segmentation']}"
        )
    if "tradeoff" in r:
        lines += [
            "",
            "| threshold | missed defective cells | 95% upper bound | false calls on OK cells |",
            "|---:|---:|---:|---:|",
        ]
        for t in r["tradeoff"]:
            lines.append(
                f"| {t['threshold']:.4f} | {t['miss_rate']:.3%} | {t['miss_upper95']:.3%} | {t['false_call_rate']:.3%} |"
            )
    if "per_class_recall" in r:
        lines += ["", "| class | cells | detected | recall | 95% lower bound |", "|---|---:|---:|---:|---:|"]
        for c, v in r["per_class_recall"].items():
            if v["cells"]:
                lines.append(f"| {c} | {v['cells']} | {v['detected']} | {v['recall']:.2%} | {v['recall_lower95']:.2%} |")
    if "confusion_matrix" in r:
        cm = r["confusion_matrix"]
        names = [c[:8] for c in cm["classes"]]
        lines += [
            "",
            "Confusion matrix (rows: truth, columns: predicted; a cell below threshold is predicted ok)",
            "",
            "| | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for n, row in zip(names, cm["rows_true_cols_predicted"], strict=True):
            lines.append(f"| {n} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


# ---- OK / REVIEW / NG triage: two operating points ------------------------------------------------


@dataclass(frozen=True)
class TriagePoints:
    """Below ok_threshold OK, at or above ng_threshold NG, between them REVIEW (on p(defect))."""

    ok_threshold: float
    ng_threshold: float


def score_reference(p_def: np.ndarray, is_def: np.ndarray) -> dict[str, Any]:
    """The validation score distribution drift is measured against: shares per score bin, OK and defective cells apart."""
    bins = np.array([score_bin(float(p)) for p in p_def], dtype=np.int64)
    n = len(SCORE_EDGES) + 1

    def share(mask: np.ndarray) -> list[float]:
        counts = np.bincount(bins[mask], minlength=n)
        return [round(float(c) / max(1, int(mask.sum())), 6) for c in counts]

    return {
        "edges": list(SCORE_EDGES),
        "ok": share(~is_def),
        "defect": share(is_def),
        "ok_cells": int((~is_def).sum()),
        "defect_cells": int(is_def.sum()),
    }


def ng_threshold_for(p_ok_cells: np.ndarray, target_false_ng: float) -> float:
    """Lowest threshold at which at most target_false_ng of these OK cells would go straight to rework."""
    if len(p_ok_cells) == 0:
        return 0.5
    desc = np.sort(p_ok_cells)[::-1]
    k = int(np.floor(target_false_ng * len(desc)))  # this many OK cells may be at or above the threshold
    if k >= len(desc):
        return float(desc[-1])
    return float(np.nextafter(np.float32(desc[k]), np.float32(1.0)))


def calibrate_triage(
    p_def: np.ndarray,
    is_def: np.ndarray,
    source: np.ndarray,
    *,
    target_miss: float = 0.003,
    target_false_ng: float = 0.01,
) -> tuple[TriagePoints, dict[str, object]]:
    """Both operating points from calibration cells (never trained on).

    OK threshold: the highest whose one-sided 95 % upper bound of the miss rate (cells neither NG
    nor REVIEW) meets target_miss on all calibration cells pooled. NG threshold: the lowest at which
    auto-NG false calls stay within target_false_ng of the OK cells of *every* source (the strictest
    source decides, so a station whose cells look like the hardest source is not flooded), and never
    below the OK threshold.
    """
    op, rule = calibrate(p_def, is_def, target_miss)
    per_source = {}
    for s in np.unique(source):
        m = (source == s) & ~is_def.astype(bool)
        if m.sum() >= 20:
            per_source[str(s)] = ng_threshold_for(p_def[m], target_false_ng)
    ng_t = max([op.threshold, *per_source.values()]) if per_source else max(op.threshold, 0.5)
    ng_t = float(min(ng_t, 0.999))
    detail = {
        "ok_rule": rule,
        "ng_rule": f"lowest threshold with auto-NG false calls <= {target_false_ng:.1%} of the OK cells of every source",
        "target_miss": target_miss,
        "target_false_ng": target_false_ng,
        "ng_threshold_per_source": per_source,
        "calibration_point": op.__dict__,
    }
    return TriagePoints(op.threshold, max(ng_t, op.threshold)), detail


def triage_figures(p_def: np.ndarray, is_def: np.ndarray, points: TriagePoints) -> dict[str, float | int]:
    """Miss (neither NG nor REVIEW), auto-NG false calls, review load and what the operator sees."""
    d = is_def.astype(bool)
    ng = p_def >= points.ng_threshold
    review = (p_def >= points.ok_threshold) & ~ng
    nd, nok, n = int(d.sum()), int((~d).sum()), len(p_def)
    misses = int(np.sum(d & ~ng & ~review))
    false_ng = int(np.sum(~d & ng))
    return {
        "ok_threshold": points.ok_threshold,
        "ng_threshold": points.ng_threshold,
        "cells": n,
        "defects": nd,
        "ok_cells": nok,
        "misses": misses,
        "miss_rate": misses / max(nd, 1),
        "miss_upper95": clopper_pearson_upper(misses, nd),
        "auto_ng": int(ng.sum()),
        "auto_ng_false_calls": false_ng,
        "auto_ng_false_call_rate": false_ng / max(nok, 1),
        "auto_ng_precision": float(np.sum(d & ng)) / max(int(ng.sum()), 1),
        "defects_direct_ng": float(np.sum(d & ng)) / max(nd, 1),
        "review_cells": int(review.sum()),
        "review_load": float(review.sum()) / max(n, 1),
        "review_load_ok_cells": float(np.sum(~d & review)) / max(nok, 1),
        "review_defect_share": float(np.sum(d & review)) / max(int(review.sum()), 1),
    }


def triage_tradeoff(p_def: np.ndarray, is_def: np.ndarray, points: TriagePoints) -> list[dict[str, float | int]]:
    """What other OK thresholds would cost in review load and misses (the NG point fixed)."""
    rows = []
    for t in sorted({points.ok_threshold, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5}):
        if t > points.ng_threshold:
            continue
        f = triage_figures(p_def, is_def, TriagePoints(t, points.ng_threshold))
        rows.append({k: f[k] for k in ("ok_threshold", "miss_rate", "miss_upper95", "review_load", "review_load_ok_cells")})
    return rows


def per_kind(
    p_def: np.ndarray, is_def: np.ndarray, kind: np.ndarray | None, points: TriagePoints
) -> dict[str, dict[str, object]]:
    """Triage figures and AUC per sub-population (mono / poly, recipe, bit depth)."""
    if kind is None:
        return {}
    out: dict[str, dict[str, object]] = {}
    for k in sorted({str(v) for v in kind}):
        m = np.array([str(v) == k for v in kind])
        f = triage_figures(p_def[m], is_def[m], points)
        out[k] = {
            "roc_auc": roc_auc(p_def[m], is_def[m]),
            **{x: f[x] for x in ("cells", "defects", "misses", "miss_rate", "auto_ng_false_call_rate", "review_load")},
        }
    return out
