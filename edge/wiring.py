"""Wiring the edge from its settings: the inspector (model + rules) and the worker, outbox and publisher.

The CLI (`eltrace edge`, `inspect`, `bench edge`), the demo and the evaluation reports all build
the edge here, so a station, a benchmark and a model report judge images the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.api_client import EdgeApiClient
from edge.inference.model import CellClassifier, resolve_model_dir
from edge.inference.rules import DecisionRules
from edge.outbox import Outbox
from edge.pipeline import Inspector, Recipe
from edge.publisher import Publisher
from edge.settings import EdgeSettings
from edge.worker import FolderWorker
from services.contracts import Grid, Stage


def load_inspector(
    model_dir: Path,
    *,
    rules_path: Path | None = None,
    device_id: str = "local",
    station_id: str = "local",
    threads: int = 2,
    warm_up: bool = False,
) -> Inspector:
    """The model (sha256-verified) with its operating points, or a station's rules file over them."""
    classifier = CellClassifier.load(model_dir, threads=threads)
    if warm_up:
        classifier.warm_up()
    return Inspector(classifier, DecisionRules.for_model(classifier.info, rules_path), device_id=device_id, station_id=station_id)


@dataclass
class EdgeParts:
    """A wired edge worker: folder watcher, outbox and publisher."""

    worker: FolderWorker
    publisher: Publisher
    outbox: Outbox
    inspector: Inspector


def build_edge(s: EdgeSettings, *, redis_url: str | None = None) -> EdgeParts:
    """Load the model (sha256-verified), wire the worker, outbox and publisher."""
    model_dir = resolve_model_dir(s.models_dir, s.model_name, s.model_version)
    inspector = load_inspector(
        model_dir, rules_path=s.rules_path, device_id=s.device_id, station_id=s.station_id, threads=s.threads, warm_up=True
    )
    outbox = Outbox(s.outbox_path)
    recipe = Recipe(name=s.recipe, grid=Grid.parse(s.grid), cell_aspect=s.cell_aspect)
    worker = FolderWorker(
        inspector=inspector,
        outbox=outbox,
        watch_dir=s.watch_dir,
        done_dir=s.done_dir,
        rejected_dir=s.rejected_dir,
        default_recipe=recipe,
        filename_pattern=s.filename_pattern,
        stage=Stage(s.stage),
        settle_s=s.settle_s,
        min_free_bytes=int(s.min_free_mb * 1024 * 1024),
    )
    api = EdgeApiClient(s.api_url, s.api_key.get_secret_value()) if s.api_key.get_secret_value() else None
    publisher = Publisher(
        outbox=outbox,
        redis_url=redis_url or s.redis_url,
        api=api,
        device_id=s.device_id,
        key_id=s.key_id,
        signing_key=bytes.fromhex(s.signing_key.get_secret_value()),
        confirm=s.confirm,
        resend_after_s=s.resend_after_s,
    )
    return EdgeParts(worker, publisher, outbox, inspector)
