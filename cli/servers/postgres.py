"""A real PostgreSQL server for tests and benchmarks: binaries from the pgserver wheel (or the system), on loopback."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from cli.servers.http import free_port

PG_USER = "eltrace_pg"  # postgres refuses to run as root


def _bin_dir() -> Path:
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        if (Path(POSTGRES_BIN_PATH) / "postgres").exists():
            return Path(POSTGRES_BIN_PATH)
    except ImportError:
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    raise RuntimeError("no PostgreSQL binaries: install the dev extra (pgserver) or postgresql")


def _ensure_user() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER], check=True)
        pw = pwd.getpwnam(PG_USER)
    return pw.pw_uid, pw.pw_gid


class PostgresServer:
    """initdb + postgres on 127.0.0.1:<free port>; stop() and start() simulate an outage."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="eltrace-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.ids = _ensure_user()
        os.chmod(self.root, 0o777)
        self._chmod_bin()
        self.proc: subprocess.Popen[bytes] | None = None

    def _chmod_bin(self) -> None:
        if self.ids is None:
            return
        # The wheel lives under the virtualenv, possibly in a directory the postgres user cannot read.
        p = self.bin
        while p != p.parent:
            try:
                os.chmod(p, os.stat(p).st_mode | 0o055)
            except PermissionError:
                pass
            p = p.parent
        for d in (self.bin, self.bin.parent / "lib", self.bin.parent / "share"):
            for dirpath, _dirnames, filenames in os.walk(d):
                os.chmod(dirpath, os.stat(dirpath).st_mode | 0o055)
                for f in filenames:
                    fp = os.path.join(dirpath, f)
                    os.chmod(fp, os.stat(fp).st_mode | 0o044 | (0o011 if os.access(fp, os.X_OK) else 0))

    def _run(self, args: list[str]) -> None:
        kw: dict[str, object] = {}
        if self.ids:
            kw = {"user": self.ids[0], "group": self.ids[1]}
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)

    def init(self, *, durable: bool = False) -> PostgresServer:
        """initdb with trust auth on loopback; durable=False turns fsync off (tests), True keeps it (benchmarks)."""
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        with open(self.data / "postgresql.conf", "a") as f:
            if not durable:
                f.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
            f.write("max_connections = 200\nshared_buffers = 256MB\nunix_socket_directories = ''\n")
        return self

    def start(self, timeout_s: float = 30) -> PostgresServer:
        """Start the server and wait until it accepts connections."""
        kw: dict[str, object] = {"user": self.ids[0], "group": self.ids[1]} if self.ids else {}
        log = open(self.root / "pg.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kw,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=1):
                    return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"postgres exited: {(self.root / 'pg.log').read_text()[-2000:]}") from None
                time.sleep(0.1)
        raise TimeoutError("postgres did not start")

    def stop(self) -> None:
        """Fast shutdown (connections are cut)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT = fast shutdown
            self.proc.wait(30)
        self.proc = None

    def url(self, db: str) -> str:
        """SQLAlchemy/psycopg URL of a database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE and return its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        """Stop and delete everything."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
