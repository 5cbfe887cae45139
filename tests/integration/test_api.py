"""The API over HTTP (TestClient on the real app and database): auth everywhere, roles, history, limits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.deps import current_device
from api.main import create_app
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings
from services.devices.service import provision_device
from services.imagestore.store import DirectoryBlobStore, store_image
from services.ingest.store import store_batch
from services.inspection.service import record_results
from services.security.service import create_user
from tests.conftest import SECRET
from tests.support.factories import make_envelope
from tests.support.routes import PUBLIC, dependency_calls, iter_routes

ROLES = ["operator", "quality_engineer", "customer_service", "admin"]
PASSWORD = "correct horse battery"


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> TestClient:
    settings = ApiSettings(profile="test", database_url=db_url, secret_key=SECRET, data_dir=tmp_path)
    app = create_app(settings)
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        for role in ROLES:
            create_user(session=s, username=role, password=PASSWORD, role=role)
        cred = provision_device(session=s, code="edge-t1", station_code="STR-EL-01", master_secret=SECRET.encode())
        dev_id = s.execute(__import__("sqlalchemy").text("select id from device where code='edge-t1'")).scalar_one()
        items = []
        blobs = DirectoryBlobStore(settings.resolved_image_dir())
        for i in range(14):
            env, png = make_envelope("edge-t1", i)
            items.append((env, dev_id))
            store_image(session=s, blobs=blobs, data=png, expected_sha256=env.image.sha256)
        store_batch(session=s, items=items, loop_limit=2)
    c = TestClient(app)
    c.device_key = cred.api_key  # type: ignore[attr-defined]
    return c


def token(client: TestClient, role: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": role, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_every_route_declares_authentication(client: TestClient) -> None:
    """Fails when someone adds a route without a person or device dependency."""
    missing = []
    checked = 0
    for route in iter_routes(client.app.routes):  # type: ignore[attr-defined]
        if route.path in PUBLIC:
            continue
        assert hasattr(route, "dependant"), f"{route.path}: not an API route and not public"
        calls = list(dependency_calls(route.dependant))
        has_person = any(hasattr(c, "required_roles") for c in calls)
        has_device = current_device in calls
        checked += 1
        if has_person == has_device:  # neither, or both (devices may not use people's routes)
            missing.append(f"{sorted(route.methods)} {route.path}")
    assert checked >= 7
    assert missing == []


def test_no_token_is_401_everywhere_but_health(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json()["status"] == "ok"
    for path in ["/api/v1/modules", "/api/v1/modules/M000000000", "/api/v1/inspections", "/api/v1/images/" + "a" * 64]:
        r = client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", path
    assert client.post("/api/v1/edge/confirmations", json={"result_ids": []}).status_code == 401
    bad = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."}  # alg=none forgery
    assert client.get("/api/v1/modules", headers=bad).status_code == 401


@pytest.mark.parametrize("role", ROLES)
def test_people_read_history_devices_do_not(client: TestClient, role: str) -> None:
    h = token(client, role)
    r = client.get("/api/v1/modules/M000000000", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["barcode"] == "M000000000" and len(body["inspections"]) == 6
    ng = [i for i in body["inspections"] if i["verdict"] == "NG"]
    assert ng and ng[0]["defects"][0]["cls"] == "crack" and ng[0]["defects"][0]["row"] == 1
    # A person's token is not a device key, and a device key is not a person's token.
    assert client.post("/api/v1/edge/confirmations", json={"result_ids": []}, headers=h).status_code == 401
    assert client.get("/api/v1/modules", headers={"X-Device-Key": client.device_key}).status_code == 401  # type: ignore[attr-defined]


def test_pagination_is_bounded_and_filters_work(client: TestClient) -> None:
    h = token(client, "quality_engineer")
    assert client.get("/api/v1/inspections?limit=1000", headers=h).status_code == 422
    page = client.get("/api/v1/inspections?limit=5&offset=0", headers=h).json()
    assert page["total"] == 14 and len(page["items"]) == 5
    ng = client.get("/api/v1/inspections?verdict=NG", headers=h).json()
    assert ng["total"] == 2 and all(i["verdict"] == "NG" for i in ng["items"])
    assert client.get("/api/v1/modules/not a barcode!", headers=h).status_code == 422
    r = client.get("/api/v1/modules/UNKNOWN123", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_images_upload_and_download(client: TestClient) -> None:
    dev = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    png = make_envelope("edge-t1", 500)[1]
    sha = hashlib.sha256(png).hexdigest()
    assert client.put(f"/api/v1/edge/images/{'0' * 64}", content=png, headers=dev).status_code == 400  # hash mismatch
    not_img = b"GIF89a-nope"
    assert (
        client.put(f"/api/v1/edge/images/{hashlib.sha256(not_img).hexdigest()}", content=not_img, headers=dev).status_code == 400
    )
    assert client.put(f"/api/v1/edge/images/{sha}", content=png, headers=dev).status_code == 204
    assert client.put(f"/api/v1/edge/images/{sha}", content=png, headers=dev).status_code == 204  # idempotent
    h = token(client, "operator")
    r = client.get(f"/api/v1/images/{sha}", headers=h)
    assert r.status_code == 200 and r.content == png and r.headers["content-type"] == "image/png"
    big = b"\x89PNG\r\n\x1a\n" + bytes(65 * 1024 * 1024)
    assert client.put(f"/api/v1/edge/images/{hashlib.sha256(big).hexdigest()}", content=big, headers=dev).status_code == 413
    # A real 4 MP 16-bit string image is several MiB: above the JSON cap, inside the image cap.
    large = png + bytes(3 * 1024 * 1024)  # PNG magic first; trailing bytes after IEND are kept as they are
    assert client.put(f"/api/v1/edge/images/{hashlib.sha256(large).hexdigest()}", content=large, headers=dev).status_code == 204


def test_body_caps_follow_their_settings(db_url: str, tmp_path: Path) -> None:
    """Each route's cap is the setting it names: raising a setting raises exactly those caps."""
    settings = ApiSettings(profile="test", database_url=db_url, secret_key=SECRET, data_dir=tmp_path,
                           max_json_bytes=4096, max_csv_bytes=8192, max_upload_bytes=16384)  # fmt: skip
    c = TestClient(create_app(settings))

    def status(method: str, path: str, size: int) -> int:
        return c.request(method, path, content=b"x" * size, headers={"Content-Type": "application/octet-stream"}).status_code

    assert status("POST", "/api/v1/containment", 5000) == 413  # JSON route: max_json_bytes
    assert status("POST", "/api/v1/containment", 3000) != 413
    assert status("POST", "/api/v1/imports/products/csv", 9000) == 413  # CSV import: max_csv_bytes
    assert status("POST", "/api/v1/imports/products/csv", 7000) != 413
    assert status("PUT", f"/api/v1/edge/images/{'0' * 64}", 17000) == 413  # image: max_upload_bytes
    assert status("PUT", f"/api/v1/edge/images/{'0' * 64}", 15000) != 413
    assert status("POST", "/api/v1/complaints/C-2026-0001/attachments", 15000) != 413


def test_confirmations_only_report_the_callers_own_stored_results(client: TestClient) -> None:
    dev = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    mine = [make_envelope("edge-t1", i)[0].result_id for i in range(3)]
    unknown = make_envelope("edge-t1", 9999)[0].result_id
    r = client.post("/api/v1/edge/confirmations", json={"result_ids": [*mine, unknown]}, headers=dev)
    assert r.status_code == 200 and sorted(r.json()["stored"]) == sorted(mine)
    assert client.post("/api/v1/edge/confirmations", json={"result_ids": ["x" * 36] * 1001}, headers=dev).status_code == 422


def test_login_lockout_after_repeated_failures(client: TestClient) -> None:
    for _ in range(5):
        assert client.post("/api/v1/auth/token", data={"username": "operator", "password": "wrong-password"}).status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "operator", "password": PASSWORD})
    assert r.status_code == 401 and "locked" in r.json()["detail"]


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["X-Request-ID"] == "abc123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


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
    assert locked[0]["action"] == "user.locked" and locked[0]["reason"] == "5 failed logins"
    page = client.get("/audit", headers=h)
    assert page.status_code == 200 and "user.locked" in page.text and "5 failed logins" in page.text


# Who may call what. A new route must be added here, or the matrix test fails.
QE = {"quality_engineer", "admin"}
REWORK = {"operator", "quality_engineer", "admin"}
INVESTIGATORS = {"quality_engineer", "customer_service", "admin"}
STAFF = INVESTIGATORS  # complaints and 8D: customer service opens, quality engineers work them
ROLE_MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/modules/{barcode}"): set(ROLES),
    ("GET", "/api/v1/modules"): set(ROLES),
    ("GET", "/api/v1/inspections"): set(ROLES),
    ("GET", "/api/v1/images/{sha256}"): set(ROLES),
    ("GET", "/api/v1/audit"): {"quality_engineer", "admin"},
    ("GET", "/"): set(ROLES),
    ("GET", "/audit"): {"quality_engineer", "admin"},
    ("PUT", "/api/v1/edge/images/{sha256}"): {"device"},
    ("POST", "/api/v1/edge/confirmations"): {"device"},
    ("GET", "/api/v1/edge/whoami"): {"device"},
    ("GET", "/api/v1/images/{sha256}/preview"): set(ROLES),
    ("GET", "/api/v1/rework/{barcode}"): REWORK,
    ("POST", "/api/v1/rework/loops/{loop_id}/dispositions"): REWORK,
    ("GET", "/api/v1/holds"): QE,
    ("POST", "/api/v1/holds/{hold_id}/decision"): QE,
    ("POST", "/api/v1/modules/{barcode}/hold"): QE,
    ("POST", "/api/v1/imports/{kind}"): QE,
    ("POST", "/api/v1/imports/{kind}/csv"): QE,
    ("POST", "/api/v1/containment"): INVESTIGATORS,
    ("POST", "/api/v1/containment/csv"): INVESTIGATORS,
    ("POST", "/api/v1/containment/hold"): QE,
    ("GET", "/api/v1/dashboard"): QE,
    ("GET", "/api/v1/shifts"): QE,
    ("PUT", "/api/v1/shifts"): {"admin"},
    ("GET", "/rework"): REWORK,
    ("POST", "/rework/dispose"): REWORK,
    ("GET", "/modules/{barcode}"): set(ROLES),
    ("GET", "/containment"): INVESTIGATORS,
    ("GET", "/containment.csv"): INVESTIGATORS,
    ("POST", "/containment/hold"): QE,
    ("GET", "/holds"): QE,
    ("POST", "/holds/{hold_id}/decision"): QE,
    ("GET", "/dashboard"): QE,
    ("POST", "/api/v1/complaints"): STAFF,
    ("GET", "/api/v1/complaints"): STAFF,
    ("GET", "/api/v1/complaints/{number}"): STAFF,
    ("POST", "/api/v1/complaints/{number}/judgement"): QE,
    ("POST", "/api/v1/complaints/{number}/attachments"): STAFF,
    ("GET", "/api/v1/complaints/{number}/attachments/{attachment_id}"): STAFF,
    ("POST", "/api/v1/complaints/{number}/case"): STAFF,
    ("GET", "/api/v1/8d"): STAFF,
    ("GET", "/api/v1/8d/{number}"): STAFF,
    ("PATCH", "/api/v1/8d/{number}/disciplines/{code}"): STAFF,
    ("POST", "/api/v1/8d/{number}/disciplines/{code}/complete"): STAFF,
    ("POST", "/api/v1/8d/{number}/reopen"): QE,
    ("GET", "/api/v1/8d/{number}/d3-suspects"): STAFF,
    ("GET", "/api/v1/8d/{number}/report.html"): STAFF,
    ("GET", "/api/v1/8d/{number}/report.pdf"): STAFF,
    ("GET", "/api/v1/metrics/ppm"): STAFF,
    ("GET", "/api/v1/metrics/response"): STAFF,
    ("GET", "/api/v1/metrics/ppm-definitions"): STAFF,
    ("POST", "/api/v1/metrics/ppm-definitions"): QE,
    ("GET", "/complaints"): STAFF,
    ("POST", "/complaints"): STAFF,
    ("GET", "/complaints/{number}"): STAFF,
    ("POST", "/complaints/{number}/judgement"): QE,
    ("GET", "/8d/{number}"): STAFF,
    ("POST", "/8d/{number}/disciplines/{code}"): STAFF,
    ("POST", "/8d/{number}/reopen"): QE,
    ("GET", "/ppm"): STAFF,
}
SAMPLE_PATH = {
    "{barcode}": "M000000000",
    "{sha256}": "0" * 64,
    "{loop_id}": "1",
    "{hold_id}": "1",
    "{kind}": "shipments",
    "{number}": "8D-2026-0001",
    "{code}": "D0",
    "{attachment_id}": "1",
}


def test_role_matrix_every_role_on_every_route(client: TestClient) -> None:
    routes = {
        (m, r.path)
        for r in iter_routes(client.app.routes)
        if r.path not in PUBLIC  # type: ignore[attr-defined]
        for m in (getattr(r, "methods", None) or set())
        if m != "HEAD"
    }
    assert routes == set(ROLE_MATRIX), "update ROLE_MATRIX for new or removed routes"
    callers = {role: token(client, role) for role in ROLES}
    callers["device"] = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    callers["anonymous"] = {}
    for (method, path), allowed in ROLE_MATRIX.items():
        url = path
        for k, v in SAMPLE_PATH.items():
            url = url.replace(k, v)
        body = {"json": {"result_ids": []}} if method == "POST" else ({"content": b"x"} if method == "PUT" else {})
        for who, headers in callers.items():
            status = client.request(method, url, headers=headers, **body).status_code
            if who in allowed:
                assert status not in (401, 403), (who, method, path, status)
            elif who in ("anonymous", "device") or "device" in allowed:
                assert status == 401, (who, method, path, status)
            else:
                assert status == 403, (who, method, path, status)


def test_password_spraying_from_one_address_is_throttled(client: TestClient) -> None:
    from api.auth import throttle as auth

    codes = [
        client.post("/api/v1/auth/token", data={"username": f"nobody{i}", "password": "guess-guess"}).status_code
        for i in range(auth.FAILS_PER_WINDOW + 2)
    ]
    assert codes[: auth.FAILS_PER_WINDOW] == [401] * auth.FAILS_PER_WINDOW
    assert codes[-1] == 429
    # Even the right password waits: the address is throttled, not the account.
    assert client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 429


def test_page_sign_in_needs_csrf_and_sets_a_cookie_session(client: TestClient) -> None:
    anon = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"] == "/login"
    page = client.get("/login")
    csrf = page.cookies.get("eltrace_csrf") or client.cookies.get("eltrace_csrf")
    assert csrf and f'value="{csrf}"' in page.text
    # A cross-site form post has no token: refused, and nothing is set.
    forged = client.post("/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False)
    assert forged.status_code == 403 and "eltrace_token" not in forged.cookies
    wrong = client.post("/login", data={"username": "admin", "password": "nope-nope-nope", "csrf_token": csrf})
    assert wrong.status_code == 401 and "invalid username or password" in wrong.text
    ok = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower()
    home = client.get("/")
    assert home.status_code == 200 and "Recent string EL results" in home.text and "M000000000" in home.text
    # With only the cookie, a state-changing API call also needs the CSRF header.
    assert client.get("/api/v1/modules").status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.delete("eltrace_token")
    assert client.get("/api/v1/modules").status_code == 401


def test_operator_bound_to_a_line_sees_only_that_lines_modules(client: TestClient, db_url: str) -> None:
    from sqlalchemy import text

    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        provision_device(session=s, code="edge-a", station_code="STR-A-01", master_secret=SECRET.encode())
        s.execute(text("UPDATE station SET line = 'A' WHERE code = 'STR-A-01'"))
        dev_a = s.execute(text("select id from device where code='edge-a'")).scalar_one()
        env, png = make_envelope("edge-a", 6000, station="STR-A-01")
        store_image(
            session=s,
            blobs=DirectoryBlobStore(Path(client.app.state.settings.resolved_image_dir())),
            data=png,  # type: ignore[attr-defined]
            expected_sha256=env.image.sha256,
        )
        record_results(session=s, items=[(env, dev_a)])
        create_user(session=s, username="op-a", password=PASSWORD, role="operator", line="A")
    op_a = token(client, "op-a")
    mods = client.get("/api/v1/modules", headers=op_a).json()
    assert [m["barcode"] for m in mods["items"]] == [env.barcode] and mods["total"] == 1
    assert client.get(f"/api/v1/modules/{env.barcode}", headers=op_a).status_code == 200
    assert client.get("/api/v1/modules/M000000000", headers=op_a).status_code == 404  # other line: not disclosed
    assert client.get("/api/v1/inspections", headers=op_a).json()["total"] == 1
    assert client.get(f"/api/v1/images/{env.image.sha256}", headers=op_a).status_code == 200
    other_sha = make_envelope("edge-t1", 0)[0].image.sha256
    assert client.get(f"/api/v1/images/{other_sha}", headers=op_a).status_code == 404
    qe = token(client, "quality_engineer")  # no line scope
    assert client.get("/api/v1/modules", headers=qe).json()["total"] == 4
