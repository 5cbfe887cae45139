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
    with pytest.raises(ValueError, match="threshold must be in"):
        DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=bad)
    bad.write_text(json.dumps({"ok_threshold": 0.6, "ng_threshold": 0.3}))
    with pytest.raises(ValueError, match="below ok_threshold"):
        DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=bad)


def test_two_thresholds_triage_ok_review_ng() -> None:
    rules = DecisionRules.load(classes=CLASSES, defect_threshold=0.1, ng_threshold=0.8, path=None)
    ok, low_review, high_review, ng = (rules.decide(_probs("crack", p), None)[0] for p in (0.09, 0.1, 0.79, 0.8))
    assert (ok.decision, ok.ng, ok.cls) == ("OK", False, "ok")
    assert (low_review.decision, low_review.ng, low_review.cls) == ("REVIEW", False, "crack")
    assert (high_review.decision, high_review.ng) == ("REVIEW", False)
    assert (ng.decision, ng.ng) == ("NG", True)
    # Every cell carries p(defect) and its top defect class, OK cells too (for monitoring).
    assert ok.p_defect == pytest.approx(0.09) and ok.top_class == "crack" and ok.top_score == pytest.approx(0.09)


def test_station_rules_file_overrides_the_model_operating_points(tmp_path: Path) -> None:
    station = tmp_path / "station.json"
    station.write_text(json.dumps({"ok_threshold": 0.3, "ng_threshold": 0.6}))
    rules = DecisionRules.load(classes=CLASSES, defect_threshold=0.1, ng_threshold=0.8, path=station)
    assert (rules.ok_threshold, rules.ng_threshold, rules.source) == (0.3, 0.6, str(station))
    assert rules.decide(_probs("crack", 0.2), None)[0].decision == "OK"  # REVIEW under the model's own points
    assert rules.decide(_probs("crack", 0.7), None)[0].decision == "NG"
    # A v1 file (one threshold) means no REVIEW band.
    station.write_text(json.dumps({"defect_threshold": 0.5}))
    one = DecisionRules.load(classes=CLASSES, defect_threshold=0.1, ng_threshold=0.8, path=station)
    assert [one.decide(_probs("crack", p), None)[0].decision for p in (0.49, 0.5)] == ["OK", "NG"]


def test_a_class_the_station_tolerates_is_recorded_but_never_reworked(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"classes": {"scratch": {"action": "ok"}}}))
    rules = DecisionRules.load(classes=CLASSES, defect_threshold=0.2, ng_threshold=0.5, path=path)
    tolerated = rules.decide(_probs("scratch", 0.95), None)[0]
    assert (tolerated.cls, tolerated.ng, tolerated.decision) == ("scratch", False, "OK")  # recorded with its class
    crack = rules.decide(_probs("crack", 0.95), None)[0]
    assert (crack.ng, crack.decision) == (True, "NG")
    path.write_text(json.dumps({"classes": {"scratch": {"action": "OK"}}}))  # a typo must not silently mean NG
    with pytest.raises(ValueError, match="action must be"):
        DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=path)


def test_a_rules_file_may_override_one_threshold_and_keep_the_models_other(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"ok_threshold": 0.1}))
    r = DecisionRules.load(classes=CLASSES, defect_threshold=0.2, ng_threshold=0.6, path=path)
    assert (r.ok_threshold, r.ng_threshold) == (0.1, 0.6)
    path.write_text(json.dumps({"ng_threshold": 0.9}))
    r = DecisionRules.load(classes=CLASSES, defect_threshold=0.2, ng_threshold=0.6, path=path)
    assert (r.ok_threshold, r.ng_threshold) == (0.2, 0.9)
    for bad in (0.0, 1.0):  # a threshold of 0 passes nothing, of 1 flags nothing: both refused
        path.write_text(json.dumps({"ok_threshold": bad, "ng_threshold": 0.9 if bad == 0.0 else 1.0}))
        with pytest.raises(ValueError, match="must be in"):
            DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=path)


def test_size_limit_boundary_heat_box_and_ok_scores() -> None:
    rules = DecisionRules.load(classes=CLASSES, defect_threshold=0.2, path=ROOT / "deploy" / "rules.example.json")
    heat = np.zeros((1, 10, 10), np.float32)
    heat[0, 1, 1], heat[0, 1, 5] = 1.0, 0.5  # exactly half the peak is still the hot region
    d = rules.decide(_probs("dark_spot", 0.9), heat)[0]
    assert d.defect_box == (1, 1, 5, 1)
    # 2 of 100 heat-map pixels = 0.02: exactly the dark spot's size limit, which is not below it: NG.
    assert d.ng and d.decision == "NG"
    for flat in (np.zeros((1, 10, 10), np.float32), np.full((1, 10, 10), np.nan, np.float32)):
        assert rules.decide(_probs("crack", 0.9), flat)[0].defect_box is None  # no hot region: no box, no crash
    ok = rules.decide(_probs("crack", 0.05), None)[0]
    assert (ok.cls, ok.score, ok.p_defect) == ("ok", pytest.approx(0.95), pytest.approx(0.05))  # an OK cell's score is p(ok)
