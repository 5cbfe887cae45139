"""A lean webhook receiver for `eltrace bench events`: verifies each signature, counts event ids once,
keeps arrival times in memory: GET /stats (counts), GET /arrivals (id -> arrival time).

python -m cli.servers.receiver PORT KEY_ID SECRET
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from services.events.signing import HEADER, verify


def main() -> None:
    """Serve until killed."""
    port, key_id, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    arrivals: dict[str, float] = {}
    stats = {"posts": 0, "events": 0, "rejected": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the deliverer reuses its connection

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                doc: dict[str, object] = {**stats, "unique": len(arrivals)}
                if self.path.startswith("/arrivals"):
                    doc["arrivals"] = dict(arrivals)
            self._answer(200, json.dumps(doc).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not verify(body, self.headers.get(HEADER, ""), key_id=key_id, secret=secret):
                with lock:
                    stats["rejected"] += 1
                self._answer(401)
                return
            now = time.time()
            doc = json.loads(body)
            events = doc if isinstance(doc, list) else [doc]
            with lock:
                stats["posts"] += 1
                stats["events"] += len(events)
                for e in events:
                    arrivals.setdefault(e["id"], now)
            self._answer(204)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
