"""Engine and session factory; SQLite gets WAL and foreign keys, PostgreSQL psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every ORM class."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine; SQLite files are put in WAL mode with a busy timeout."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL, not NORMAL: the edge forgets a result once this database says it is stored, so a
            # commit must survive a power cut, not only a process crash (WAL + NORMAL may lose the last ones).
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    options: dict[str, object] = {"pool_pre_ping": True}
    if "poolclass" not in kwargs:
        options.update(pool_size=5, max_overflow=5)
    options.update(kwargs)
    return create_engine(url, **options)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Session factory; expire_on_commit off so read models survive the commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Boundary helper: one session, committed on success, rolled back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
