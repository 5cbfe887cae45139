"""The app as a whole over HTTP: every response carries a request id."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["X-Request-ID"] == "abc123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
