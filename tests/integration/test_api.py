"""The app as a whole over HTTP: a request id and the browser hardening headers on every response; the docs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from services.core.settings import ApiSettings
from tests.support.http import token


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["X-Request-ID"] == "abc123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
    # Only a bounded, safe form is taken (it is stored in the audit trail): anything else gets a fresh id.
    for hostile in ("x" * 65, "a b", "<script>", "1;DROP", "../../etc"):
        got = client.get("/healthz", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
        assert got != hostile and len(got) == 32


def test_browser_hardening_headers_on_pages_and_json(client: TestClient) -> None:
    h = token(client, "quality_engineer")
    for path, headers in (("/login", {"Accept": "text/html"}), ("/api/v1/modules", h)):
        r = client.get(path, headers=headers)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in client.get("/login").headers  # plain HTTP: no HSTS
    assert "strict-transport-security" in client.get("/login", headers={"X-Forwarded-Proto": "https"}).headers


def test_the_api_docs_come_from_the_package_and_are_off_in_production(client: TestClient, db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text and "tiangolo.com" not in page.text
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    prod = TestClient(create_app(ApiSettings(profile="production", database_url=db_url, secret_key="p" * 40, data_dir=tmp_path)))
    assert prod.get("/docs").status_code == 404 and prod.get("/openapi.json").status_code == 404


def test_stations_and_their_lines_are_listed_and_moved_by_an_admin_only(client: TestClient) -> None:
    qe, admin, op = token(client, "quality_engineer"), token(client, "admin"), token(client, "operator")
    listed = client.get("/api/v1/stations", headers=qe).json()
    assert [(s["code"], s["devices"]) for s in listed] == [("STR-EL-01", ["edge-t1"])]
    assert client.get("/api/v1/stations", headers=op).status_code == 403
    assert client.put("/api/v1/stations/STR-EL-01", json={"line": "L2"}, headers=qe).status_code == 403
    moved = client.put("/api/v1/stations/STR-EL-01", json={"line": "L2", "name": "String EL 1"}, headers=admin)
    assert moved.status_code == 200 and moved.json()["line"] == "L2" and moved.json()["name"] == "String EL 1"
    assert client.put("/api/v1/stations/NOPE", json={"line": "L2"}, headers=admin).status_code == 404
    assert client.put("/api/v1/stations/STR-EL-01", json={"line": "L 2<"}, headers=admin).status_code == 422
    audit = client.get("/api/v1/audit?entity=station", headers=admin).json()["items"]
    assert audit[0]["action"] == "station.updated" and audit[0]["before"]["line"] == "" and audit[0]["after"]["line"] == "L2"


def test_times_in_queries_naive_or_extreme_are_answered_never_a_500(client: TestClient) -> None:
    h = token(client, "quality_engineer")
    assert client.get("/api/v1/inspections?since=2026-01-01", headers=h).status_code == 200  # naive: read as UTC
    assert client.get("/api/v1/inspections?since=2026-01-01T08:00:00%2B08:00", headers=h).status_code == 200
    for url in (
        "/api/v1/inspections?since=0001-01-01T00:00:00Z",
        "/api/v1/dashboard?until=0001-01-01T00:00:00Z",
        "/api/v1/dashboard?since=9999-12-31T23:59:59Z",
    ):
        r = client.get(url, headers=h)
        assert r.status_code == 422 and "between 2000-01-01 and 2100-01-01" in r.text, url
    assert client.get("/api/v1/dashboard?since=2026-01-01&until=2026-01-15", headers=h).status_code == 200
