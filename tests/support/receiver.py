"""A real webhook receiver process for the delivery tests: verifies signatures with the documented code,
counts each event id once (idempotent), records order per subject, and misbehaves on request.

python -m tests.support.receiver PORT DB KEY_ID SECRET CONTROL_FILE
CONTROL_FILE (JSON, re-read on every request): {"status": 500} answers that status; {"delay": 3} sleeps first.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from services.events.signing import HEADER, verify


def main() -> None:
    port, db, key_id, secret, control = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, subject TEXT, sequence TEXT, copies INT, at REAL)")
    conn.execute("CREATE TABLE IF NOT EXISTS rejected (at REAL, why TEXT)")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                ctl = json.loads(control.read_text()) if control.exists() else {}
            except ValueError:
                ctl = {}
            if ctl.get("delay"):
                time.sleep(float(ctl["delay"]))
            if ctl.get("status"):
                self.send_response(int(ctl["status"]))
                self.end_headers()
                return
            if not verify(body, self.headers.get(HEADER, ""), key_id=key_id, secret=secret):
                with lock:
                    conn.execute("INSERT INTO rejected VALUES (?, ?)", (time.time(), "signature"))
                self.send_response(401)
                self.end_headers()
                return
            doc = json.loads(body)
            events = doc if isinstance(doc, list) else [doc]
            now = time.time()
            with lock:
                for e in events:
                    conn.execute(
                        "INSERT INTO seen VALUES (?, ?, ?, 1, ?) ON CONFLICT(id) DO UPDATE SET copies = copies + 1",
                        (e["id"], e["subject"], e["sequence"], now),
                    )
            self.send_response(204)
            self.end_headers()

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
