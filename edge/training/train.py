"""Training (resumable, seeded), ONNX export with embedded metadata, and the model registry.

Run through `eltrace model train`; needs the `train` extra (torch). Checkpoints every epoch.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge.training import dataset
from edge.training.classes import CLASSES
from edge.training.dataset import CellSet

MEAN, STD = 0.45, 0.25


@dataclass
class TrainConfig:
    """Everything that determines a training run (recorded in the model card)."""

    epochs: int = 12
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 7
    width: tuple[int, int, int, int] = (16, 32, 64, 128)
    elpv_weight: float = 1.0
    threads: int = 2
    arch: str = "cellnet"  # or efficientnet-lite0/1/2 (ImageNet-pretrained, from its wheel)
    mean: float = MEAN
    std: float = STD
    # ELPV's labels are annotator probabilities (0, 1/3, 2/3, 1). soft: learn them as they are; hard: learn them
    # as the evaluation and the line count them (defective when >= 0.5), so "unsure" real cells are not taught
    # to sit in the REVIEW band.
    real_labels: str = "soft"
    extra: dict[str, object] = field(default_factory=dict)


def _augment(x: np.ndarray, rng: np.random.Generator, *, strong: bool = False) -> np.ndarray:
    """x: (B, H, W) float32 [0,1]; flips, 180 deg, gain/gamma, noise, small shifts.

    strong (the pretrained model): also transposes (busbars either way, as other makers' cells
    come), blur and a gain gradient, so camera and tester differences do not read as defects.
    """
    import cv2

    out = np.empty_like(x)
    for i in range(len(x)):
        a = x[i]
        if rng.random() < 0.5:
            a = a[:, ::-1]
        if rng.random() < 0.5:
            a = a[::-1, :]
        if strong:
            if rng.random() < 0.5:
                a = a.T
            if rng.random() < 0.3:
                a = cv2.GaussianBlur(np.ascontiguousarray(a), (0, 0), rng.uniform(0.5, 1.5))
            if rng.random() < 0.3:
                ramp = np.linspace(-1, 1, a.shape[1], dtype=np.float32)[None, :] * rng.uniform(-0.15, 0.15)
                a = a * (1 + (ramp if rng.random() < 0.5 else ramp.T))
        a = a * rng.uniform(0.75, 1.25)
        a = np.clip(a, 0, 1) ** rng.uniform(0.8, 1.25)
        a = a + rng.normal(0, rng.uniform(0, 0.03), a.shape)
        dy, dx = rng.integers(-4, 5, size=2)
        a = np.roll(a, (int(dy), int(dx)), axis=(0, 1))
        out[i] = np.clip(a, 0, 1)
    return out


def loss_targets(p_def: np.ndarray, real_labels: str) -> np.ndarray:
    """p(defect) each cell is trained towards: the labels as given (soft) or cut at 0.5 as evaluated (hard)."""
    if real_labels == "soft":
        return p_def.astype(np.float32)
    if real_labels == "hard":
        return (p_def >= 0.5).astype(np.float32)
    raise ValueError(f"real_labels is soft or hard, not {real_labels!r}")


def train(
    data: CellSet, out_dir: Path, cfg: TrainConfig, *, init_from: Path | None = None, progress: object | None = None
) -> Path:
    """Train (or resume from out_dir/checkpoint.pt); returns the path of the final weights."""
    import torch
    from torch import nn

    from edge.training.net import CellNet, build_net

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    net = build_net(cfg.arch, len(CLASSES), cfg.width).to(device)
    strong = cfg.arch != "cellnet"
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = int(np.ceil(len(data) / cfg.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15)
    start_epoch = 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=True)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start_epoch = int(ck["epoch"])
    elif init_from is not None:
        net.load_state_dict(torch.load(init_from, map_location=device, weights_only=True))
    ce = nn.CrossEntropyLoss(reduction="none")
    log = out_dir / "train_log.jsonl"
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        order = rng.permutation(len(data))
        t0, tot, n = time.time(), 0.0, 0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch : (b + 1) * cfg.batch]
            xb = _augment(data.x[idx].astype(np.float32) / 255.0, rng, strong=strong)
            xt = torch.from_numpy(((xb - cfg.mean) / cfg.std).astype(np.float32)).unsqueeze(1).to(device)
            yt = torch.from_numpy(data.y[idx]).to(device)
            pt = torch.from_numpy(loss_targets(data.p_def[idx], cfg.real_labels)).to(device)
            src = torch.from_numpy(data.source[idx].astype(np.int64)).to(device)
            logits = CellNet.logits(net(xt))
            has_cls = yt >= 0
            loss_ce = (ce(logits[has_cls], yt[has_cls]).sum() / max(1, int(has_cls.sum()))) if has_cls.any() else logits.sum() * 0
            p_def = (1 - torch.softmax(logits, dim=1)[:, 0]).clamp(1e-6, 1 - 1e-6)
            # Real cells (ELPV, a factory's) weigh elpv_weight; synthetic and pasted-defect ones 1.
            real = (src == 1) | (src == 2)
            w = torch.where(real, torch.full_like(pt, cfg.elpv_weight), torch.ones_like(pt))
            loss_bin = (nn.functional.binary_cross_entropy(p_def, pt, reduction="none") * w).mean()
            loss = loss_ce + loss_bin
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
            n += len(idx)
            if progress is not None:
                progress(epoch, b, steps_per_epoch, tot / n)  # type: ignore[operator]
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch + 1}, ckpt_path)
        with open(log, "a") as fh:
            fh.write(json.dumps({"epoch": epoch + 1, "loss": tot / n, "seconds": round(time.time() - t0, 1)}) + "\n")
    weights = out_dir / "weights.pt"
    torch.save({k: v.cpu() for k, v in net.state_dict().items()}, weights)
    return weights


def export_onnx(
    weights: Path,
    model_dir: Path,
    *,
    name: str,
    version: str,
    defect_threshold: float,
    cfg: TrainConfig,
    data_digest: str,
    extra_meta: dict[str, object] | None = None,
) -> Path:
    """Export to model_dir/model.onnx with metadata, and write model.onnx.sha256."""
    import torch

    from edge.training.net import ExportWrapper, build_net

    net = build_net(cfg.arch, len(CLASSES), cfg.width, pretrained=False)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / "model.onnx"
    side = dataset.CELL
    dummy = torch.zeros(2, 1, side, side)
    torch.onnx.export(
        ExportWrapper(net),
        (dummy,),
        str(path),
        input_names=["cells"],
        output_names=["probs", "heatmap"],
        dynamic_axes={"cells": {0: "n"}, "probs": {0: "n"}, "heatmap": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    meta = {
        "name": name,
        "version": version,
        "classes": list(CLASSES),
        "input_size": [side, side],
        "mean": cfg.mean,
        "std": cfg.std,
        "defect_threshold": defect_threshold,
        "training_data_sha256": data_digest,
        "train_config": asdict(cfg),
        **(extra_meta or {}),
    }
    _write_meta(model_dir, meta)
    return path


def _write_meta(model_dir: Path, meta: dict[str, object]) -> None:
    """Embed the eltrace metadata in model.onnx and refresh model.onnx.sha256."""
    import onnx

    path = model_dir / "model.onnx"
    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = "eltrace", json.dumps(meta)
    onnx.save(model, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (model_dir / "model.onnx.sha256").write_text(f"{digest}  model.onnx\n")


def set_threshold(model_dir: Path, defect_threshold: float, extra_meta: dict[str, object] | None = None) -> None:
    """Rewrite the operating point in the ONNX metadata (after calibration) and the sha256 file."""
    import onnx

    path = model_dir / "model.onnx"
    model = onnx.load(str(path))
    meta = json.loads(next(p.value for p in model.metadata_props if p.key == "eltrace"))
    meta["defect_threshold"] = defect_threshold
    meta.update(extra_meta or {})
    _write_meta(model_dir, meta)


def quantize_int8(src_dir: Path, dst_dir: Path, calib_cells: np.ndarray, *, version: str) -> Path:
    """Static INT8 (QDQ, per-channel 7-bit weights) of src_dir/model.onnx, activations calibrated on real cells.

    calib_cells: uint8 (N, H, W) cells the model never trained on. The eltrace metadata is carried
    over with the new version; the operating points must be recalibrated on the INT8 scores.
    """
    import json as _json

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = onnx.load(str(src_dir / "model.onnx"))
    meta = _json.loads(next(p.value for p in src.metadata_props if p.key == "eltrace"))
    mean, std = float(meta["mean"]), float(meta["std"])
    dst_dir.mkdir(parents=True, exist_ok=True)
    pre = dst_dir / "model.pre.onnx"
    quant_pre_process(str(src_dir / "model.onnx"), str(pre), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type information
        def __init__(self) -> None:
            # Whole batches only: the histogram calibrator stacks per-batch outputs and needs equal shapes.
            self.batches = iter(range(0, len(calib_cells) - 31, 32))

        def get_next(self) -> dict[str, np.ndarray] | None:
            i = next(self.batches, None)
            if i is None:
                return None
            x = (calib_cells[i : i + 32].astype(np.float32) / 255.0 - mean) / std
            return {"cells": x[:, None].astype(np.float32)}

    # The head stays float: the class-activation conv, the pooling and the softmax are a tiny
    # share of the cost, and a quantised softmax gives p(defect) in steps of 1/255 - coarser
    # than the gap between OK cells and the faintest defects the OK threshold has to split.
    head = [n.name for n in src.graph.node if not n.name.startswith("/net/") or n.name.startswith("/net/cam/")]
    out = dst_dir / "model.onnx"
    quantize_static(
        str(pre),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        # 7-bit weights: u8 x s8 products summed in pairs saturate int16 on x86 CPUs without VNNI (AVX2,
        # AVX-512 before Cascade Lake, most line PCs); full 8-bit weights cost 2.4.0-int8 0.13 of ELPV AUC there.
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.Percentile,
        nodes_to_exclude=head,
        extra_options={"CalibPercentile": 99.99},
    )
    pre.unlink(missing_ok=True)
    meta.update(
        {
            "version": version,
            "quantized_from": {"version": meta["version"], "dir": str(src_dir)},
            "precision": "int8",
            "float_head": True,
        }
    )
    _write_meta(dst_dir, meta)
    return out
