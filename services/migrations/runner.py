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
