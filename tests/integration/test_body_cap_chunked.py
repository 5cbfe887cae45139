"""Pre-auth memory exhaustion: a chunked body (no Content-Length) is cut at the route's cap, measured on a real API process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from cli.servers.http import free_port
from tests.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


@contextmanager
def api_process(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A real `eltrace api` process (its memory is what the tests measure), ready when this yields."""
    port = free_port()
    env = dict(
        os.environ,
        ELTRACE_PROFILE="test",
        ELTRACE_DATABASE_URL=sqlite_url,
        ELTRACE_SECRET_KEY=SECRET,
        ELTRACE_DATA_DIR=str(tmp_path),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(10)


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _send_chunked(port: int, path: str, mib: int) -> tuple[bytes, int]:
    """POST `mib` MiB as 1 MiB chunks without a token; returns the status line and how many chunks went out."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = b"[" + b"1," * (MIB // 2 - 1) + b"1"
    sent = 0
    try:
        for _ in range(mib):
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += 1
        sock.sendall(b"0\r\n\r\n")
    except OSError:  # the server answered and stopped reading: what we want
        pass
    try:
        raw = sock.recv(2000)
        status = raw.split(b"\r\n", 1)[0]
    except OSError:
        status = b""
    sock.close()
    return status, sent


def test_a_chunked_body_without_a_token_is_cut_at_the_cap_and_memory_stays_flat(sqlite_url: str, tmp_path: Path) -> None:
    with api_process(sqlite_url, tmp_path) as (proc, port):
        before = _kib(proc.pid, "VmRSS")
        status, sent = _send_chunked(port, "/api/v1/containment", 100)
        peak = _kib(proc.pid, "VmHWM")
        print(f"chunked 100 MiB: answer {status!r} after {sent} chunks; API RSS {before // 1024} MB -> peak {peak // 1024} MB")
        assert b" 413" in status
        assert (peak - before) * 1024 < 40 * MIB  # the old middleware read the whole body first: +200 MB
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200  # and it still serves


def _png_bomb(side: int = 20_000) -> bytes:
    """A valid 8-bit grey PNG of side x side pixels (400 MP), ~400 KB on disk: written row by row, never held."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\x00" + bytes(side)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_an_image_bomb_is_stored_as_evidence_but_never_decoded_for_a_preview(sqlite_url: str, tmp_path: Path) -> None:
    import hashlib

    from services.core.db import make_engine, make_sessionmaker, transaction
    from services.devices.service import provision_device
    from services.security.service import create_user

    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        device = provision_device(session=s, code="edge-b1", station_code="STR-EL-01", master_secret=SECRET.encode())
        create_user(session=s, username="qe1", password="a-long-enough-password", role="quality_engineer")
    with api_process(sqlite_url, tmp_path) as (proc, port):
        base = f"http://127.0.0.1:{port}"
        bomb = _png_bomb()
        sha = hashlib.sha256(bomb).hexdigest()
        put = httpx.put(f"{base}/api/v1/edge/images/{sha}", content=bomb, headers={"X-Device-Key": device.api_key}, timeout=30)
        assert put.status_code == 204  # kept: it is the evidence behind an ERROR result
        tok = httpx.post(f"{base}/api/v1/auth/token", data={"username": "qe1", "password": "a-long-enough-password"}, timeout=30)
        auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        before = _kib(proc.pid, "VmHWM")  # the peak so far: the sign-in's argon2 takes 64 MB for a moment
        answers = [httpx.get(f"{base}/api/v1/images/{sha}/preview?w=800", headers=auth, timeout=60) for _ in range(3)]
        peak = _kib(proc.pid, "VmHWM")
        print(
            f"bomb {len(bomb) // 1024} KB: previews {[a.status_code for a in answers]}; API RSS {before // 1024} MB -> peak {peak // 1024} MB"
        )
        assert all(a.status_code == 400 and "preview limit" in a.text for a in answers)
        assert (peak - before) * 1024 < 40 * MIB  # decoding it would take 400 MB per request
