"""Severity rules: threshold on p(defect), per-class action and size limit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.inference.rules import DecisionRules
from edge.training.classes import CLASSES

ROOT = Path(__file__).resolve().parents[2]


def _probs(cls: str, p_def: float) -> np.ndarray:
    p = np.zeros((1, len(CLASSES)), np.float32)
    p[0, 0] = 1 - p_def
    p[0, CLASSES.index(cls)] = p_def
    return p


def test_threshold_and_default_rule() -> None:
    rules = DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=None)
    assert rules.decide(_probs("crack", 0.19), None)[0].cls == "ok"
    d = rules.decide(_probs("crack", 0.25), None)[0]
    assert (d.cls, d.ng) == ("crack", True) and d.score == pytest.approx(0.25)


def test_small_dark_spot_is_tolerated_large_one_is_ng(tmp_path: Path) -> None:
    rules = DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=ROOT / "deploy" / "rules.example.json")
    heat_small = np.zeros((1, 10, 10), np.float32)
    heat_small[0, 4, 4] = 1.0  # 1 % of the cell
    heat_large = np.zeros((1, 10, 10), np.float32)
    heat_large[0, 2:6, 2:6] = 1.0  # 16 %
    small = rules.decide(_probs("dark_spot", 0.9), heat_small)[0]
    large = rules.decide(_probs("dark_spot", 0.9), heat_large)[0]
    assert (small.cls, small.ng) == ("dark_spot", False) and small.defect_box == (4, 4, 1, 1)
    assert large.ng and large.defect_box == (2, 2, 4, 4)
    assert rules.decide(_probs("crack", 0.9), heat_small)[0].ng  # any crack is NG


def test_rules_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"classes": {"bubble": {"action": "ok"}}}))
    with pytest.raises(ValueError, match="unknown class"):
        DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=bad)
    bad.write_text(json.dumps({"defect_threshold": 1.5}))
    with pytest.raises(ValueError, match="defect_threshold"):
        DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=bad)
