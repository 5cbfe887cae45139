"""A tiny ONNX classifier built with onnx.helper, for tests: it judges a cell by its mean brightness.

Not a defect detector; it only lets tests run the real edge path (sha256 check, metadata,
batched inference, rules) in milliseconds and predictably: dark cells are `dead_cell`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.training.classes import CLASSES


def build_tiny_model(
    model_dir: Path,
    *,
    version: str = "0.0.1-test",
    threshold: float = 0.5,
    size: int = 32,
    operating_points: tuple[float, float] | None = None,
) -> Path:
    """Write model.onnx (+ sha256) into model_dir and return the directory; operating_points (OK, NG) give a REVIEW band."""
    n = len(CLASSES)
    # logits = m * w + b with m = normalised mean brightness; bright -> ok, dark -> dead_cell.
    w = np.full((1, n), 0.0, dtype=np.float32)
    b = np.full((n,), -8.0, dtype=np.float32)
    w[0, 0], b[0] = 6.0, 0.0
    dead = CLASSES.index("dead_cell")
    w[0, dead], b[dead] = -6.0, 0.0
    nodes = [
        helper.make_node("ReduceMean", ["cells"], ["m4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["m4", "shape"], ["m"]),
        helper.make_node("Gemm", ["m", "W", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("cells", TensorProto.FLOAT, ["n", 1, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", n])],
        initializer=[
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(b, "B"),
            numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    meta = {
        "name": "tiny-test-model",
        "version": version,
        "classes": list(CLASSES),
        "input_size": [size, size],
        "mean": 0.45,
        "std": 0.25,
        "defect_threshold": threshold,
    }
    if operating_points:
        meta["operating_points"] = {"ok_threshold": operating_points[0], "ng_threshold": operating_points[1]}
    entry = model.metadata_props.add()
    entry.key, entry.value = "eltrace", json.dumps(meta)
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / "model.onnx"
    onnx.save(model, str(path))
    (model_dir / "model.onnx.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "  model.onnx\n")
    return model_dir
