"""The default model's recipe, end to end: data -> train -> export -> calibrate -> evaluate -> card.

`eltrace model train` runs exactly this; the model card records its arguments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.segmentation.grid import VERSION as SEGMENTATION_VERSION
from edge.training import dataset
from edge.training.dataset import CellSet, elpv_cells, factory_cells, pasted_defects, synthetic_cells
from edge.training.synthetic import GENERATOR_VERSION

# Disjoint seed ranges: what trains never calibrates or tests.
TRAIN_SEEDS = (0, 100_000)
CALIB_SEEDS = (500_000, 600_000)
TEST_SEEDS = (900_000, 1_000_000)


@dataclass
class DataSpec:
    """Which data a run uses."""

    synthetic_strings: int = 1000
    elpv: bool = True
    factory_dir: str | None = None
    factory_format: str | None = None
    factory_grid: str | None = None
    megapixels: float = 1.2
    elpv_split: str = "train"  # "fit" keeps the ELPV calibration part out of training
    pasted: float = 0.0  # typed defects pasted on this share of the functional ELPV cells
    defect_rate: float = 0.5


def load_training_data(spec: DataSpec, cache_dir: Path, log: Callable[[str], None] = print) -> CellSet:
    """Build (or load from cache) the training cells."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = json.dumps(
        {
            **asdict(spec),
            **({"cell": dataset.CELL} if dataset.CELL != 160 else {}),
            "generator": GENERATOR_VERSION,
            "segmentation": SEGMENTATION_VERSION,
        },
        sort_keys=True,
    )
    # sha256, not hash(): str hashes are salted per process, so the cache would never be found again.
    cache = cache_dir / f"train-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    if cache.exists():
        z = np.load(cache)
        log(f"training cells from cache {cache}")
        return CellSet(z["x"], z["y"], z["p_def"], z["source"])
    parts = []
    if spec.synthetic_strings:
        log(f"rendering {spec.synthetic_strings} synthetic strings and cutting their cells ...")
        seeds = range(TRAIN_SEEDS[0], TRAIN_SEEDS[0] + spec.synthetic_strings)
        parts.append(synthetic_cells(seeds, megapixels=spec.megapixels, defect_rate=spec.defect_rate))
    if spec.elpv:
        log(f"loading ELPV {spec.elpv_split} split ...")
        parts.append(elpv_cells(spec.elpv_split))
        if spec.pasted:
            log(f"pasting typed defects onto {spec.pasted:.0%} of the functional ELPV {spec.elpv_split} cells ...")
            parts.append(pasted_defects(spec.elpv_split, per_cell=spec.pasted))
    if spec.factory_dir:
        grid = tuple(int(v) for v in spec.factory_grid.lower().split("x")) if spec.factory_grid else None
        parts.append(factory_cells(Path(spec.factory_dir), spec.factory_format or "folder", grid=grid))  # type: ignore[arg-type]
    data = CellSet.concat(parts)
    np.savez(cache, x=data.x, y=data.y, p_def=data.p_def, source=data.source)
    return data


def synthetic_eval_set(kind: str, strings: int, cache_dir: Path, megapixels: float = 4.0) -> CellSet:
    """Calibration or test cells from 4 MP strings with seeds never used in training."""
    lo = CALIB_SEEDS[0] if kind == "calib" else TEST_SEEDS[0]
    side = "" if dataset.CELL == 160 else f"-{dataset.CELL}px"  # 160 px caches keep their old names
    cache = cache_dir / f"{kind}-{strings}-{megapixels}{side}-v{GENERATOR_VERSION}-s{SEGMENTATION_VERSION}.npz"
    if cache.exists():
        z = np.load(cache)
        return CellSet(z["x"], z["y"], z["p_def"], z["source"], z["group"], int(z["refused"]), z["kind"])
    data = synthetic_cells(range(lo, lo + strings), megapixels=megapixels)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if data.group is None or data.kind is None:
        raise ValueError("synthetic cells come with their string and kind")
    np.savez(
        cache, x=data.x, y=data.y, p_def=data.p_def, source=data.source, group=data.group, refused=data.refused, kind=data.kind
    )
    return data
