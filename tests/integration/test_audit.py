"""The audit trail: recorded in the same transaction as each change, readable, never editable."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.core.db import make_engine
from tests.support.http import ROLES, token


def test_audit_trail_records_changes_and_refuses_edits(client: TestClient, db_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    h = token(client, "quality_engineer")
    page = client.get("/api/v1/audit?entity=user", headers=h).json()
    assert {e["entity_id"] for e in page["items"]} == set(ROLES)
    assert client.get("/api/v1/audit", headers=token(client, "operator")).status_code == 403
    engine = make_engine(db_url)
    for stmt in ("UPDATE audit_entry SET actor = 'mallory'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(stmt))
    for _ in range(5):
        client.post("/api/v1/auth/token", data={"username": "operator", "password": "wrong-password"})
    locked = client.get("/api/v1/audit?entity=user&entity_id=operator", headers=h).json()["items"]
    assert locked[0]["action"] == "user.locked" and locked[0]["reason"] == "5 failed sign-ins in a row"
    page = client.get("/audit", headers=h)
    assert page.status_code == 200 and "user.locked" in page.text and "5 failed sign-ins in a row" in page.text
