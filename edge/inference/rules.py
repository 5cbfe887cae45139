"""Per-class severity rules: turn class probabilities into OK / NG per cell (configurable)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class ClassRule:
    """NG policy of one defect class. min_area_frac: tolerated (OK) when smaller than this."""

    action: Literal["ng", "ok"] = "ng"
    min_area_frac: float | None = None


@dataclass(frozen=True)
class CellDecision:
    """The judgement of one cell."""

    cls: str
    score: float  # p(defect) for a defect, p(ok) for an OK cell
    ng: bool
    defect_box: tuple[int, int, int, int] | None  # in cell-crop pixels of the model input


@dataclass(frozen=True)
class DecisionRules:
    """Operating point (threshold on p(defect)) plus per-class rules."""

    defect_threshold: float
    classes: tuple[str, ...]
    class_rules: dict[str, ClassRule] = field(default_factory=dict)

    @classmethod
    def load(cls, *, classes: tuple[str, ...], defect_threshold: float, path: Path | None) -> DecisionRules:
        """Rules from a JSON file ({"defect_threshold": .., "classes": {"dark_spot": {...}}}) or defaults."""
        rules: dict[str, ClassRule] = {}
        if path is not None:
            data = json.loads(Path(path).read_text())
            defect_threshold = float(data.get("defect_threshold", defect_threshold))
            for name, spec in data.get("classes", {}).items():
                if name not in classes:
                    raise ValueError(f"rule for unknown class {name!r}")
                rules[name] = ClassRule(action=spec.get("action", "ng"), min_area_frac=spec.get("min_area_frac"))
        if not 0.0 < defect_threshold < 1.0:
            raise ValueError("defect_threshold must be in (0, 1)")
        return cls(defect_threshold=defect_threshold, classes=classes, class_rules=rules)

    def decide(self, probs: np.ndarray, heat: np.ndarray | None) -> list[CellDecision]:
        """probs (N, C) with class 0 = ok; heat (N, h, w) in [0,1] or None."""
        out: list[CellDecision] = []
        for i in range(probs.shape[0]):
            p_def = float(1.0 - probs[i, 0])
            if p_def < self.defect_threshold:
                out.append(CellDecision("ok", float(probs[i, 0]), False, None))
                continue
            k = 1 + int(np.argmax(probs[i, 1:]))
            cls = self.classes[k]
            box, area = _heat_box(heat[i]) if heat is not None else (None, None)
            rule = self.class_rules.get(cls, ClassRule())
            ng = rule.action == "ng"
            if ng and rule.min_area_frac is not None and area is not None and area < rule.min_area_frac:
                ng = False  # under the size limit: recorded, tolerated
            out.append(CellDecision(cls, p_def, ng, box))
        return out


def _heat_box(heat: np.ndarray) -> tuple[tuple[int, int, int, int] | None, float | None]:
    """Box (x, y, w, h in heat-map pixels) around the hot region, and its area fraction."""
    hmax = float(heat.max())
    if hmax <= 0:
        return None, None
    mask = heat >= 0.5 * hmax
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return box, float(mask.mean())
