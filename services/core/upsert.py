"""Dialect-aware INSERT ... ON CONFLICT DO NOTHING / add to counters (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, table: Table, conflict_cols: list[str]) -> Any:
    """An INSERT that silently skips rows whose `conflict_cols` already exist."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_cols)
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_cols)
    raise NotImplementedError(f"no idempotent insert for dialect {name}")


def insert_add(session: Session, table: Table, conflict_cols: list[str], add_cols: list[str]) -> Any:
    """An INSERT that adds `add_cols` to the existing row's counters where `conflict_cols` already exist."""
    name = session.get_bind().dialect.name
    if name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no counter upsert for dialect {name}")
    stmt = (postgresql if name == "postgresql" else sqlite).insert(table)
    return stmt.on_conflict_do_update(index_elements=conflict_cols, set_={c: table.c[c] + stmt.excluded[c] for c in add_cols})
