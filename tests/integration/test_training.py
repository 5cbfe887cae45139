"""Training end to end on small data: train -> ONNX export -> the edge loads it -> calibrate -> factory formats."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.inference.model import CellClassifier  # noqa: E402
from edge.training.classes import CLASSES  # noqa: E402
from edge.training.dataset import factory_cells, synthetic_cells  # noqa: E402
from edge.training.evaluate import calibrate, evaluate, predict  # noqa: E402
from edge.training.synthetic import generate_string  # noqa: E402
from edge.training.train import TrainConfig, export_onnx, loss_targets, set_threshold, train  # noqa: E402


def test_a_tiny_training_run_exports_a_model_the_edge_loads(tmp_path: Path) -> None:
    data = synthetic_cells(range(0, 6), megapixels=0.6, workers=1)
    cfg = TrainConfig(epochs=1, batch=32, width=(4, 8, 8, 8), threads=1)
    weights = train(data, tmp_path / "run", cfg)
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    model_dir = tmp_path / "model"
    export_onnx(weights, model_dir, name="t", version="0.1", defect_threshold=0.5, cfg=cfg, data_digest=data.digest())
    model = CellClassifier.load(model_dir)
    assert model.info.classes == CLASSES and model.info.input_size == (160, 160)
    probs = predict(model, data)
    assert probs.shape == (len(data), len(CLASSES)) and np.allclose(probs.sum(1), 1, atol=1e-4)
    op, _rule = calibrate(1 - probs[:, 0], data.p_def >= 0.5, 0.003)
    set_threshold(model_dir, op.threshold)
    assert CellClassifier.load(model_dir).info.defect_threshold == pytest.approx(op.threshold)
    report = evaluate(probs, data, op.threshold, name="tiny", out_dir=tmp_path / "eval")
    assert (tmp_path / "eval" / "tiny-roc-pr.png").stat().st_size > 1000
    assert report["operating_point"]["misses"] == 0  # calibrated on the same cells: every defect is caught


def test_resuming_continues_from_the_checkpoint(tmp_path: Path) -> None:
    data = synthetic_cells(range(0, 2), megapixels=0.5, workers=1)
    cfg = TrainConfig(epochs=2, batch=64, width=(4, 4, 4, 4), threads=1)
    train(data, tmp_path / "run", TrainConfig(epochs=2, batch=64, width=(4, 4, 4, 4), threads=1), progress=None)
    log = (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in log] == [1, 2]
    train(data, tmp_path / "run", cfg)  # already done: resumes at epoch 2 and trains nothing more
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 2


def _string(tmp: Path, name: str, seed: int) -> tuple[Path, list]:
    img, truth = generate_string(seed, recipe="full-1x12", defect_rate=0.3, megapixels=0.6, bit_depth=8)
    path = tmp / f"{name}.png"
    cv2.imwrite(str(path), img)
    return path, truth.cells


def test_factory_formats_map_labels_to_cells(tmp_path: Path) -> None:
    # folder: one directory per class of single-cell images
    for cls in ("ok", "crack"):
        (tmp_path / "folder" / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "folder" / cls / "a.png"), np.full((100, 100), 200 if cls == "ok" else 90, np.uint8))
    f = factory_cells(tmp_path / "folder", "folder")
    assert sorted(CLASSES[k] for k in f.y) == ["crack", "ok"]
    # csv manifest
    (tmp_path / "csv").mkdir()
    cv2.imwrite(str(tmp_path / "csv" / "c1.png"), np.full((80, 80), 180, np.uint8))
    with open(tmp_path / "csv" / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label"], ["c1.png", "dark_spot"]])
    assert CLASSES[factory_cells(tmp_path / "csv", "csv").y[0]] == "dark_spot"
    # VOC boxes on a string image: each box lands on the cell it covers
    voc = tmp_path / "voc"
    voc.mkdir()
    path, cells = _string(voc, "s1", 123)
    defective = [c for c in cells if c.cls != "ok"]
    objs = "".join(
        f"<object><name>{c.cls}</name><bndbox><xmin>{c.defect_box[0]}</xmin><ymin>{c.defect_box[1]}</ymin>"
        f"<xmax>{c.defect_box[0] + c.defect_box[2]}</xmax><ymax>{c.defect_box[1] + c.defect_box[3]}</ymax></bndbox></object>"
        for c in defective
    )
    (voc / "s1.xml").write_text(f"<annotation><filename>s1.png</filename>{objs}</annotation>")
    v = factory_cells(voc, "voc", grid=(1, 12))
    assert [CLASSES[k] for k in v.y] == [c.cls for c in cells]
    # YOLO: normalised centre boxes and classes.txt
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    path, cells = _string(yolo, "s2", 321)
    h, w = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape
    names = list(CLASSES)
    (yolo / "classes.txt").write_text("\n".join(names))
    lines = [
        f"{names.index(c.cls)} {(c.defect_box[0] + c.defect_box[2] / 2) / w} {(c.defect_box[1] + c.defect_box[3] / 2) / h} "
        f"{c.defect_box[2] / w} {c.defect_box[3] / h}"
        for c in cells
        if c.cls != "ok"
    ]
    (yolo / "s2.txt").write_text("\n".join(lines))
    y = factory_cells(yolo, "yolo", grid=(1, 12))
    assert [CLASSES[k] for k in y.y] == [c.cls for c in cells]


def test_unknown_labels_are_refused(tmp_path: Path) -> None:
    (tmp_path / "f" / "bubble").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "f" / "bubble" / "a.png"), np.full((80, 80), 150, np.uint8))
    with pytest.raises(ValueError, match="not in the class list"):
        factory_cells(tmp_path / "f", "folder")


def test_int8_quantization_keeps_the_metadata_and_the_scores(tmp_path: Path) -> None:
    """Static INT8 of a real (tiny) trained CNN: loadable by the edge, marked int8, scores close to float."""
    from edge.training.train import quantize_int8

    data = synthetic_cells(range(0, 4), megapixels=0.5, workers=1)
    cfg = TrainConfig(epochs=1, batch=32, width=(4, 8, 8, 8), threads=1)
    weights = train(data, tmp_path / "run", cfg)
    export_onnx(weights, tmp_path / "f", name="t", version="0.1", defect_threshold=0.3, cfg=cfg, data_digest=data.digest())
    quantize_int8(tmp_path / "f", tmp_path / "q", data.x[:64], version="0.1-int8")
    f, q = CellClassifier.load(tmp_path / "f"), CellClassifier.load(tmp_path / "q")
    assert q.info.version == "0.1-int8" and q.info.extra["precision"] == "int8" and q.info.classes == f.info.classes
    import onnx

    graph = onnx.load(str(tmp_path / "q" / "model.onnx")).graph
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)  # weights really are int8
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    pf, pq = predict(f, data), predict(q, data)
    assert np.abs(pf[:, 0] - pq[:, 0]).max() < 0.1
    # The head stays float: a quantised softmax would hand out p(defect) in steps of 1/255, coarser
    # than the gap the OK threshold has to split.
    (producer,) = [n for n in graph.node if "probs" in n.output]
    assert producer.op_type == "Softmax"
    steps = (1 - pq[:, 0]) * 255
    assert np.abs(steps - np.round(steps)).max() > 0.01


def test_real_labels_are_learnt_as_given_or_as_the_evaluation_counts_them() -> None:
    elpv = np.array([0, 1 / 3, 2 / 3, 1], dtype=np.float32)  # ELPV's annotator probabilities
    assert np.allclose(loss_targets(elpv, "soft"), elpv)
    assert loss_targets(elpv, "hard").tolist() == [0.0, 0.0, 1.0, 1.0]  # defective from 0.5, as evaluated
    with pytest.raises(ValueError, match="soft or hard"):
        loss_targets(elpv, "sharp")
