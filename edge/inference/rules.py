"""Per-cell triage OK / REVIEW / NG from class probabilities, with per-class severity rules.

Two calibrated thresholds on p(defect) = 1 - p(ok):
- p >= ng_threshold: NG, the cell goes to rework directly (set for high precision);
- ok_threshold <= p < ng_threshold: REVIEW, an EL operator confirms it on screen;
- p < ok_threshold: OK (set so that NG + REVIEW meet the miss target with its 95 % bound).
A model with a single threshold (v1 models) has ok_threshold == ng_threshold: no REVIEW.
A station's rules file may override both (operating points from its own labelled cells).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Decision = Literal["OK", "REVIEW", "NG"]


@dataclass(frozen=True)
class ClassRule:
    """Policy of one defect class. action "ok": recorded, never NG; min_area_frac: tolerated (OK) when smaller."""

    action: Literal["ng", "ok"] = "ng"
    min_area_frac: float | None = None


@dataclass(frozen=True)
class CellDecision:
    """The judgement of one cell."""

    cls: str  # "ok" or the defect class the decision is about
    score: float  # p(defect) for a defect, p(ok) for an OK cell (the v1 meaning)
    ng: bool
    defect_box: tuple[int, int, int, int] | None  # in heat-map pixels
    decision: Decision = "OK"
    p_defect: float = 0.0
    top_class: str = ""
    top_score: float = 0.0


@dataclass(frozen=True)
class DecisionRules:
    """Operating points (two thresholds on p(defect)) plus per-class rules."""

    ok_threshold: float
    ng_threshold: float
    classes: tuple[str, ...]
    class_rules: dict[str, ClassRule] = field(default_factory=dict)
    source: str = "model"  # where the operating points came from: model metadata or a rules file

    @property
    def defect_threshold(self) -> float:
        """The lower threshold: a cell at or above it is not OK (v1 name)."""
        return self.ok_threshold

    @classmethod
    def load(
        cls,
        *,
        classes: tuple[str, ...],
        defect_threshold: float,
        path: Path | None,
        ng_threshold: float | None = None,
    ) -> DecisionRules:
        """Rules from a JSON file or defaults.

        File: {"ok_threshold": .., "ng_threshold": .., "classes": {"dark_spot": {...}}}; the v1 key
        "defect_threshold" sets both thresholds (no REVIEW band).
        """
        ok_t, ng_t = defect_threshold, ng_threshold if ng_threshold is not None else defect_threshold
        rules: dict[str, ClassRule] = {}
        source = "model"
        if path is not None:
            data = json.loads(Path(path).read_text())
            if "defect_threshold" in data:
                ok_t = ng_t = float(data["defect_threshold"])
                source = str(path)
            if "ok_threshold" in data or "ng_threshold" in data:
                ok_t = float(data.get("ok_threshold", ok_t))
                ng_t = float(data.get("ng_threshold", ng_t))
                source = str(path)
            for name, spec in data.get("classes", {}).items():
                if name not in classes:
                    raise ValueError(f"rule for unknown class {name!r}")
                action = spec.get("action", "ng")
                if action not in ("ok", "ng"):
                    raise ValueError(f"rule for {name!r}: action must be 'ok' or 'ng', got {action!r}")
                rules[name] = ClassRule(action=action, min_area_frac=spec.get("min_area_frac"))
        for label, t in (("ok_threshold", ok_t), ("ng_threshold", ng_t)):
            if not 0.0 < t < 1.0:
                raise ValueError(f"{label} must be in (0, 1), got {t}")
        if ng_t < ok_t:
            raise ValueError(f"ng_threshold {ng_t} is below ok_threshold {ok_t}")
        return cls(ok_threshold=ok_t, ng_threshold=ng_t, classes=classes, class_rules=rules, source=source)

    @classmethod
    def for_model(cls, info: object, path: Path | None = None) -> DecisionRules:
        """The model's calibrated operating points (ModelInfo), overridden by a station's rules file."""
        return cls.load(
            classes=info.classes,  # type: ignore[attr-defined]
            defect_threshold=info.ok_threshold,  # type: ignore[attr-defined]
            ng_threshold=info.ng_threshold,  # type: ignore[attr-defined]
            path=path,
        )

    def decide(self, probs: np.ndarray, heat: np.ndarray | None) -> list[CellDecision]:
        """probs (N, C) float32 with class 0 = ok; heat (N, h, w) in [0,1] or None."""
        out: list[CellDecision] = []
        for i in range(probs.shape[0]):
            p_def = float(min(1.0, max(0.0, 1.0 - probs[i, 0])))
            k = 1 + int(np.argmax(probs[i, 1:]))
            top, top_p = self.classes[k], float(probs[i, k])
            top_score = min(1.0, max(0.0, top_p))
            if p_def < self.ok_threshold:
                out.append(CellDecision("ok", float(probs[i, 0]), False, None, "OK", p_def, top, top_score))
                continue
            box, area = _heat_box(heat[i]) if heat is not None else (None, None)
            rule = self.class_rules.get(top, ClassRule())
            decision: Decision = "NG" if p_def >= self.ng_threshold else "REVIEW"
            if rule.action == "ok" or (rule.min_area_frac is not None and area is not None and area < rule.min_area_frac):
                decision = "OK"  # tolerated by the severity rules: recorded with its class, never reworked
            out.append(CellDecision(top, p_def, decision == "NG", box, decision, p_def, top, top_score))
        return out


def _heat_box(heat: np.ndarray) -> tuple[tuple[int, int, int, int] | None, float | None]:
    """Box (x, y, w, h in heat-map pixels) around the hot region, and its area fraction."""
    hmax = float(heat.max())
    if not np.isfinite(hmax) or hmax <= 0:
        return None, None
    mask = heat >= 0.5 * hmax
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return box, float(mask.mean())
