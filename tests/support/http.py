"""Signing in over HTTP in tests: the users the client fixture creates and their bearer tokens."""

from __future__ import annotations

from fastapi.testclient import TestClient

ROLES = ["operator", "quality_engineer", "customer_service", "admin"]
PASSWORD = "correct horse battery"


def token(client: TestClient, role: str) -> dict[str, str]:
    """The Authorization header of a user (by username; the fixture names users after their roles)."""
    r = client.post("/api/v1/auth/token", data={"username": role, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
