"""Starting the server-side parts from settings: the Redis URL (or an embedded server) and the models registry.

The edge is wired in edge/wiring.py.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import redis

from cli.servers.redis import RedisServer
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


def models_root() -> Path:
    """The models/ registry of this checkout."""
    return Path(__file__).resolve().parent.parent / "models"


def stop_event() -> threading.Event:
    """An event set by SIGINT or SIGTERM: a process's clean stop."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
