"""PostgreSQL: the API and ingest log in as a role that reads and writes rows and nothing more."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from services.core.db import make_engine, make_sessionmaker, transaction
from services.migrations.runner import grant_app_role, upgrade
from services.security.service import create_user, login

pytestmark = pytest.mark.postgres


def test_the_app_role_writes_rows_but_cannot_touch_the_schema_or_the_audit_trail(pg_server) -> None:  # type: ignore[no-untyped-def]
    owner_url = pg_server.create_database(f"roles_{uuid.uuid4().hex[:8]}")
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    upgrade(owner_url)  # the owner runs the migrations
    grant_app_role(owner_url, role)
    app_url = owner_url.replace("postgres@", f"{role}@", 1)

    sessions = make_sessionmaker(make_engine(app_url))
    with transaction(sessions) as s:  # the app works: a user is created (and audited), signs in
        create_user(session=s, username="qe1", password="a-long-password", role="quality_engineer")
    with transaction(sessions) as s:
        assert login(session=s, username="qe1", password="a-long-password").username == "qe1"

    with psycopg.connect(app_url, autocommit=True) as conn:
        for forbidden in (
            "ALTER TABLE audit_entry DISABLE TRIGGER ALL",  # switch the append-only rule off
            "DROP TRIGGER audit_entry_no_change ON audit_entry",
            "UPDATE audit_entry SET actor = 'someone else'",
            "DELETE FROM audit_entry",
            "TRUNCATE audit_entry",
            "DROP TABLE module",
            "ALTER TABLE inspection ADD COLUMN x int",
            "UPDATE alembic_version SET version_num = '0001'",
            "CREATE TABLE sneaky (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)
        assert conn.execute("SELECT count(*) FROM audit_entry").fetchone()[0] >= 1  # reading the trail is fine
