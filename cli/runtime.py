"""Starting the parts (Redis, database, API, ingest, edge) from settings, in one place."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from edge.api_client import EdgeApiClient
from edge.inference.model import CellClassifier, resolve_model_dir
from edge.inference.rules import DecisionRules
from edge.outbox import Outbox
from edge.pipeline import Inspector, Recipe
from edge.publisher import Publisher
from edge.settings import EdgeSettings
from edge.worker import FolderWorker
from services.contracts import Grid
from services.contracts.result import Stage
from services.core.redis_server import RedisServer
from services.core.settings import CoreSettings

EMBEDDED_REDIS_PORT = 6399


def ensure_redis(settings: CoreSettings) -> tuple[str, RedisServer | None]:
    """The configured Redis URL, or an embedded server (reused if one already runs on its port)."""
    if settings.redis_url:
        return settings.redis_url, None
    url = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    try:
        if redis.Redis.from_url(url, socket_connect_timeout=0.3).ping():
            return url, None
    except redis.RedisError:
        pass
    server = RedisServer(settings.data_dir / "redis", port=EMBEDDED_REDIS_PORT, appendonly=True).start()
    return server.url, server


def port_free(host: str, port: int) -> bool:
    """Whether a TCP port can be bound."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class ServerThread(threading.Thread):
    """uvicorn in a background thread (demo, tests, benchmarks)."""

    def __init__(self, app: object, host: str, port: int) -> None:
        import uvicorn

        super().__init__(daemon=True)
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))

    def run(self) -> None:
        self.server.run()

    def start_and_wait(self, timeout_s: float = 20) -> None:
        """Start and block until the server accepts connections."""
        self.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.is_alive():
                raise RuntimeError("API server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it."""
        self.server.should_exit = True
        self.join(10)


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
    classifier = CellClassifier.load(model_dir, threads=s.threads)
    classifier.warm_up()
    rules = DecisionRules.for_model(classifier.info, s.rules_path)
    inspector = Inspector(classifier, rules, device_id=s.device_id, station_id=s.station_id)
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


def models_root() -> Path:
    """The models/ registry of this checkout."""
    return Path(__file__).resolve().parent.parent / "models"
