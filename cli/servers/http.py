"""The API in a background thread, and free ports on loopback (demo, benchmarks, browser tests)."""

from __future__ import annotations

import socket
import threading
import time


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
