"""The committed default model: verified, self-describing, documented, and judging real strings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pytest

from edge.inference.model import CellClassifier, resolve_model_dir
from edge.inference.rules import DecisionRules
from edge.pipeline import Inspector, Recipe
from edge.training.classes import CLASSES
from edge.training.synthetic import generate_string
from services.contracts import Grid, Verdict

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
pytestmark = pytest.mark.skipif(not (MODELS / "el-cell-classifier" / "DEFAULT").exists(), reason="no default model")


def test_default_model_is_registered_with_card_metadata_and_hash() -> None:
    d = resolve_model_dir(MODELS)
    model = CellClassifier.load(d)  # verifies model.onnx.sha256
    meta = json.loads((d / "metadata.json").read_text())
    assert meta["sha256"] == model.info.sha256 and meta["version"] == model.info.version == d.name
    assert meta["defect_threshold"] == pytest.approx(model.info.defect_threshold)
    points = meta["operating_points"]
    assert (points["ok_threshold"], points["ng_threshold"]) == (
        pytest.approx(model.info.ok_threshold),
        pytest.approx(model.info.ng_threshold),
    )
    assert 0 < model.info.ok_threshold <= model.info.ng_threshold < 1
    assert model.info.classes == CLASSES and len(CLASSES) == 13
    assert (d / "model.onnx").stat().st_size < 20 * 1024 * 1024
    card = (d / "model_card.md").read_text()
    for needle in (
        "CC BY-NC-SA 4.0",
        "Apache-2.0",
        "Intended use",
        "Known limits",
        "eltrace model",
        "95 % upper bound",
        "REVIEW",
    ):
        assert needle in card
    assert meta["metrics"]["synthetic-test"]["defects"] >= 2000  # enough defects for 0.3 % to be testable


def test_default_model_finds_a_dead_cell() -> None:
    model = CellClassifier.load(resolve_model_dir(MODELS))
    insp = Inspector(model, DecisionRules.for_model(model.info), device_id="t", station_id="t")
    recipe = Recipe("half-2x12", Grid(rows=2, cols=12), 2.0)
    img, truth = generate_string(987_654, recipe="half-2x12", defect_rate=0.0, megapixels=2.0, bit_depth=8)
    x, y, w, h = truth.cells[7].box
    dead = img.copy()
    dead[y + 2 : y + h - 2, x + 2 : x + w - 2] = (dead[y + 2 : y + h - 2, x + 2 : x + w - 2] * 0.08).astype(dead.dtype)
    out = insp.inspect(
        cv2.imencode(".png", dead)[1].tobytes(), barcode="T1", string_position=1, recipe=recipe, captured_at=datetime.now(UTC)
    )
    assert out.envelope.verdict is Verdict.NG
    assert (1, 8) in {(c.row, c.col) for c in out.envelope.cells if c.ng}


@pytest.mark.slow
def test_the_cards_elpv_figures_come_from_this_model_through_the_edge_path() -> None:
    """Re-score the reserved ELPV split through the Inspector: the card's AUC and triage are this model's."""
    pytest.importorskip("elpv_dataset")
    from edge.training.dataset import elpv_raw
    from edge.training.evaluate import roc_auc, triage_figures
    from edge.training.report import points_of, score_through_inspector

    d = resolve_model_dir(MODELS)
    meta = json.loads((d / "metadata.json").read_text())
    recorded = meta["metrics"]["real-elpv-test"]
    model = CellClassifier.load(d)
    images, p, _kinds = elpv_raw("test")
    scored = score_through_inspector(model, images)
    assert scored.errors == 0  # every real cell is judged (full-frame layout)
    assert roc_auc(scored.p_def, p >= 0.5) == pytest.approx(recorded["roc_auc"], abs=1e-6)
    now = triage_figures(scored.p_def, p >= 0.5, points_of(model))
    assert (now["misses"], now["auto_ng_false_calls"], now["review_cells"]) == (
        recorded["misses"],
        recorded["auto_ng_false_calls"],
        recorded["review_cells"],
    )
