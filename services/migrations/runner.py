"""Run Alembic from code: `eltrace db migrate`, tests and the demo all use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from services.core.db import normalise_url

_HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """Alembic config pointing at this package's scripts and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema to `revision`."""
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Fail when the ORM has changes that no migration covers."""
    command.check(alembic_config(url))


def revision(url: str, message: str) -> None:
    """Autogenerate a new migration (developer command)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


def grant_app_role(url: str, role: str) -> None:
    """PostgreSQL: let `role` (the API / ingest login) read and write rows, and nothing more.

    Run as the owner that ran the migrations. The app role owns no table, so it cannot drop or alter
    one, nor disable the triggers that keep the audit trail append-only; it may only add to the trail.
    """
    import re

    from sqlalchemy import create_engine, text

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError("role names are lower-case letters, digits and _")
    engine = create_engine(normalise_url(url))
    if engine.dialect.name != "postgresql":
        raise ValueError("database roles exist on PostgreSQL only (the embedded SQLite file has none)")
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry FROM {role}",
        # Tables a later migration adds get the same rights (the owner runs it).
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]
    with engine.begin() as conn:
        for stmt in statements:
            conn.execute(text(stmt))
    engine.dispose()
