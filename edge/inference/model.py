"""ONNX cell classifier: verified load, embedded metadata, one batched call per string."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from services.contracts.result import CLASS_PATTERN

METADATA_KEY = "eltrace"


class ModelError(RuntimeError):
    """The model is missing, altered (sha256 mismatch) or lacks the metadata we need."""


@dataclass(frozen=True)
class ModelInfo:
    """What the model says about itself (ONNX metadata_props['eltrace'])."""

    name: str
    version: str
    sha256: str
    classes: tuple[str, ...]
    input_size: tuple[int, int]  # (H, W)
    mean: float
    std: float
    defect_threshold: float  # on p(defect) = 1 - p(ok): the calibrated operating point (v1 models: the only one)
    extra: dict[str, object]
    ok_threshold: float = 0.0  # below: OK; 0 means "same as defect_threshold"
    ng_threshold: float = 0.0  # at or above: NG; between the two: REVIEW

    def __post_init__(self) -> None:
        if not self.ok_threshold:
            object.__setattr__(self, "ok_threshold", self.defect_threshold)
        if not self.ng_threshold:
            object.__setattr__(self, "ng_threshold", self.defect_threshold)


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_model_dir(models_root: Path, name: str = "el-cell-classifier", version: str | None = None) -> Path:
    """models/<name>/<version>; without a version, the one named in models/<name>/DEFAULT."""
    base = Path(models_root) / name
    if version is None:
        default = base / "DEFAULT"
        if not default.exists():
            raise ModelError(f"no model version given and {default} does not exist")
        version = default.read_text().strip()
    path = base / version
    if not (path / "model.onnx").exists():
        raise ModelError(f"no model.onnx in {path}")
    return path


class CellClassifier:
    """Runs the classifier on a batch of cell crops."""

    def __init__(self, session: ort.InferenceSession, info: ModelInfo) -> None:
        self.session = session
        self.info = info
        self._input = session.get_inputs()[0].name
        outs = [o.name for o in session.get_outputs()]
        self._outputs = ["probs"] + (["heatmap"] if "heatmap" in outs else [])

    @classmethod
    def load(cls, model_dir: Path, *, threads: int = 2) -> CellClassifier:
        """Verify model.onnx against model.onnx.sha256, then read its embedded metadata."""
        model_dir = Path(model_dir)
        onnx_path = model_dir / "model.onnx"
        sha_path = model_dir / "model.onnx.sha256"
        if not onnx_path.exists() or not sha_path.exists():
            raise ModelError(f"{model_dir} needs model.onnx and model.onnx.sha256")
        expected = sha_path.read_text().split()[0].strip().lower()
        data = onnx_path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ModelError(f"model.onnx sha256 is {actual}, expected {expected}: refusing to load")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        props = session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ModelError("model has no eltrace metadata (classes, input size, normalisation, threshold)")
        meta = json.loads(props[METADATA_KEY])
        try:
            info = ModelInfo(
                name=str(meta["name"]),
                version=str(meta["version"]),
                sha256=actual,
                classes=tuple(meta["classes"]),
                input_size=(int(meta["input_size"][0]), int(meta["input_size"][1])),
                mean=float(meta["mean"]),
                std=float(meta["std"]),
                defect_threshold=float(meta["defect_threshold"]),
                extra={
                    k: v
                    for k, v in meta.items()
                    if k not in {"name", "version", "classes", "input_size", "mean", "std", "defect_threshold"}
                },
                ok_threshold=float(meta.get("operating_points", {}).get("ok_threshold", 0.0)),
                ng_threshold=float(meta.get("operating_points", {}).get("ng_threshold", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model metadata incomplete: {exc}") from exc
        if info.classes[0] != "ok":
            raise ModelError("first class must be 'ok'")
        odd = [c for c in info.classes if not re.fullmatch(CLASS_PATTERN, c)]
        if odd:  # the contract refuses such results: fail at load, not on every image
            raise ModelError(f"class names must match {CLASS_PATTERN}: {odd[:3]}")
        return cls(session, info)

    def warm_up(self, cells: int = 24) -> None:
        """One dummy batch, so the first real string does not pay for onnxruntime's lazy set-up."""
        h, w = self.info.input_size
        self.run(self.preprocess([np.zeros((h, w), np.float32)] * cells))

    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        """uint8 or float32 [0,1] crops of any size -> (N, 1, H, W) float32, normalised."""
        h, w = self.info.input_size
        batch = np.empty((len(crops), 1, h, w), dtype=np.float32)
        for i, crop in enumerate(crops):
            cell = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
            batch[i, 0] = cell * np.float32(1 / 255) if cell.dtype == np.uint8 else cell
        batch -= np.float32(self.info.mean)
        batch *= np.float32(1.0 / self.info.std)
        return batch

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, C) class probabilities and, if the model has one, an (N, h, w) defect heat map."""
        outs = self.session.run(self._outputs, {self._input: batch})
        probs = np.asarray(outs[0], dtype=np.float32)
        heat = np.asarray(outs[1], dtype=np.float32) if len(outs) > 1 else None
        return probs, heat
