"""Alembic environment: runs migrations on the URL given by the runner (or ELTRACE settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from services.core.db import make_engine
from services.migrations.registry import metadata

config = context.config


def _compare_type(ctx, inspected_column, metadata_column, inspected_type, metadata_type):  # type: ignore[no-untyped-def]
    """SQLite does not enforce VARCHAR lengths, so a widened String is only migrated on PostgreSQL
    (rebuilding a referenced table on SQLite would cascade-delete its children); ignore the length there."""
    import sqlalchemy as sa

    if ctx.dialect.name == "sqlite" and isinstance(inspected_type, sa.String) and isinstance(metadata_type, sa.String):
        return False
    return None


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from services.core.settings import CoreSettings

    return CoreSettings().resolved_database_url()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True, compare_type=_compare_type)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=_compare_type)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url(), poolclass=pool.NullPool) if not _url().startswith("sqlite") else make_engine(_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True, compare_type=_compare_type)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
