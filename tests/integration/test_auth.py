"""Who may call what: authentication on every route, the role matrix, lockout and throttle, the page sign-in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.deps import current_device, current_mes_client
from tests.conftest import SECRET
from tests.support.http import PASSWORD, ROLES, token
from tests.support.routes import PUBLIC, dependency_calls, iter_routes


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
        has_device = current_device in calls or current_mes_client in calls
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


def test_after_repeated_failures_the_account_waits_and_says_no_more_than_for_a_wrong_password(client: TestClient) -> None:
    wrong = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong-password"}).json()["detail"]
    for _ in range(5):
        assert client.post("/api/v1/auth/token", data={"username": "operator", "password": "wrong-password"}).status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "operator", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"] == wrong  # the right password waits too, and says nothing more


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
    ("GET", "/api/v1/stations"): {"quality_engineer", "admin"},
    ("POST", "/api/v1/auth/logout"): set(ROLES),
    ("PUT", "/api/v1/stations/{code}"): {"admin"},
    ("GET", "/"): set(ROLES),
    ("GET", "/audit"): {"quality_engineer", "admin"},
    ("GET", "/audit.csv"): {"quality_engineer", "admin"},
    ("GET", "/results.csv"): set(ROLES),
    ("PUT", "/api/v1/edge/images/{sha256}"): {"device"},
    ("POST", "/api/v1/edge/confirmations"): {"device"},
    ("GET", "/api/v1/edge/whoami"): {"device"},
    ("GET", "/api/v1/edge/model"): {"device"},
    ("GET", "/api/v1/edge/models/{sha256}"): {"device"},
    ("GET", "/api/v1/models"): QE,
    ("GET", "/api/v1/stations/{code}/models"): QE,
    ("POST", "/api/v1/stations/{code}/models"): QE,
    ("POST", "/api/v1/stations/{code}/models/rollback"): QE,
    ("POST", "/api/v1/stations/{code}/models/shadow/stop"): QE,
    ("GET", "/api/v1/stations/{code}/models/compare"): QE,
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
    ("GET", "/api/v1/drift"): QE,
    ("GET", "/api/v1/shifts"): QE,
    ("PUT", "/api/v1/shifts"): {"admin"},
    ("GET", "/rework"): REWORK,
    ("POST", "/rework/dispose"): REWORK,
    ("POST", "/rework/key"): REWORK,
    ("GET", "/review"): REWORK,
    ("POST", "/review/key"): REWORK,
    ("GET", "/api/v1/review/queue"): REWORK,
    ("GET", "/api/v1/review/{result_id}"): REWORK,
    ("POST", "/api/v1/review/{result_id}"): REWORK,
    ("GET", "/modules/{barcode}"): set(ROLES),
    ("GET", "/modules"): set(ROLES),
    ("GET", "/containment"): INVESTIGATORS,
    ("GET", "/containment.csv"): INVESTIGATORS,
    ("POST", "/containment/hold"): QE,
    ("GET", "/holds"): QE,
    ("GET", "/models"): QE,
    ("POST", "/models/{station}/assign"): QE,
    ("POST", "/models/{station}/rollback"): QE,
    ("POST", "/models/{station}/shadow/stop"): QE,
    ("GET", "/holds.csv"): QE,
    ("POST", "/holds/{hold_id}/decision"): QE,
    ("POST", "/holds/decision"): QE,
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
    ("GET", "/complaints.csv"): STAFF,
    ("POST", "/complaints"): STAFF,
    ("GET", "/complaints/{number}"): STAFF,
    ("POST", "/complaints/{number}/judgement"): QE,
    ("GET", "/8d/{number}"): STAFF,
    ("POST", "/8d/{number}/disciplines/{code}"): STAFF,
    ("POST", "/8d/{number}/reopen"): QE,
    ("GET", "/ppm"): STAFF,
    ("GET", "/api/v1/gate/{barcode}"): {"mes"},
    ("GET", "/api/v1/events"): {"mes"},
    ("POST", "/api/v1/mes/{kind}"): {"mes"},
    ("GET", "/api/v1/event-subscribers"): {"admin"},
    ("POST", "/api/v1/event-subscribers"): {"admin"},
    ("GET", "/api/v1/event-subscribers/{subscriber_id}"): {"admin"},
    ("PATCH", "/api/v1/event-subscribers/{subscriber_id}"): {"admin"},
    ("DELETE", "/api/v1/event-subscribers/{subscriber_id}"): {"admin"},
    ("POST", "/api/v1/event-subscribers/{subscriber_id}/pause"): {"admin"},
    ("POST", "/api/v1/event-subscribers/{subscriber_id}/resume"): {"admin"},
    ("POST", "/api/v1/event-subscribers/{subscriber_id}/rotate-secret"): {"admin"},
    ("GET", "/api/v1/event-subscribers/{subscriber_id}/dead-letters"): {"admin"},
    ("POST", "/api/v1/event-subscribers/{subscriber_id}/dead-letters/replay"): {"admin"},
    ("GET", "/api/v1/event-subscribers/{subscriber_id}/deliveries"): {"admin"},
    ("GET", "/admin/events"): {"admin"},
    ("POST", "/admin/events"): {"admin"},
    ("GET", "/admin/events/{subscriber_id}"): {"admin"},
    ("POST", "/admin/events/{subscriber_id}/{action}"): {"admin"},
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
    "{subscriber_id}": "1",
    "{action}": "pause",
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
    callers["mes"] = {"X-Device-Key": client.mes_key}  # type: ignore[attr-defined]
    callers["anonymous"] = {}
    for (method, path), allowed in ROLE_MATRIX.items():
        url = path
        for k, v in SAMPLE_PATH.items():
            url = url.replace(k, v)
        body = {"json": {"result_ids": []}} if method == "POST" else ({"content": b"x"} if method == "PUT" else {})
        for who, headers in callers.items():
            if path == "/api/v1/auth/logout" and who in ROLES:
                headers = token(client, who)  # signing out ends the token: use a spare one
            status = client.request(method, url, headers=headers, **body).status_code
            keys = {"device", "mes"}
            if who in allowed:
                assert status not in (401, 403), (who, method, path, status)
            elif who == "anonymous" or (allowed & keys and who not in keys) or (who in keys and not allowed & keys):
                assert status == 401, (who, method, path, status)  # no credential of the kind the route takes
            else:
                assert status == 403, (who, method, path, status)  # a key of the other kind, or a person's role


def test_password_spraying_from_one_address_is_throttled(client: TestClient, db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.security import service as auth

    codes = [
        client.post("/api/v1/auth/token", data={"username": f"nobody{i}", "password": "guess-guess"}).status_code
        for i in range(auth.FAILS_PER_WINDOW + 2)
    ]
    assert codes[: auth.FAILS_PER_WINDOW] == [401] * auth.FAILS_PER_WINDOW
    assert codes[-1] == 429
    # Even the right password waits: the address is throttled, not the account.
    assert client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 429
    # The count lives in the database: a second API process (another worker, another host) sees it too.
    from api.main import create_app
    from services.core.settings import ApiSettings

    other = TestClient(create_app(ApiSettings(profile="test", database_url=db_url, secret_key=SECRET, data_dir=tmp_path / "b")))
    assert other.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 429


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
    assert wrong.status_code == 401 and "sign-in refused" in wrong.text
    ok = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower()
    home = client.get("/", params={"since": "2026-10-01"})  # the bench results are of 2026-11-01
    assert home.status_code == 200 and "String EL results" in home.text and "M000000000" in home.text
    import re

    # Signed in, the pages carry a token bound to this session: the login page's cookie token no longer passes.
    bound = re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
    assert bound != csrf
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 403
    # With only the cookie, a state-changing API call also needs the CSRF header.
    assert client.get("/api/v1/modules").status_code == 200
    copied = client.cookies.get("eltrace_token")  # what someone could have lifted from this browser
    assert client.post("/logout", follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"csrf_token": bound}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.delete("eltrace_token")
    assert client.get("/api/v1/modules").status_code == 401
    assert client.get("/api/v1/modules", headers={"Authorization": f"Bearer {copied}"}).status_code == 401  # revoked


def test_signing_out_and_a_password_reset_end_tokens_that_were_still_valid(client: TestClient, db_url: str) -> None:
    from services.core.db import make_engine, make_sessionmaker, transaction
    from services.security.service import set_password

    def ok(h: dict[str, str]) -> bool:
        return client.get("/api/v1/modules", headers=h).status_code == 200

    a, b, c = token(client, "operator"), token(client, "operator"), token(client, "operator")
    assert ok(a) and ok(b) and ok(c)
    assert client.post("/api/v1/auth/logout", headers=a).status_code == 204
    assert not ok(a) and ok(b)  # only that token ended
    assert client.post("/api/v1/auth/logout?everywhere=true", headers=b).status_code == 204
    assert not ok(b) and not ok(c)  # every token of the person
    d = token(client, "operator")
    assert ok(d)  # a new sign-in works at once
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        set_password(session=s, username="operator", password=PASSWORD)
    assert not ok(d)  # a reset ends what the old password opened
    assert ok(token(client, "operator"))


def test_a_csrf_token_of_one_session_does_not_pass_in_another(client: TestClient) -> None:
    """Bound to the session: a token lifted from (or planted into) another browser does not pass."""
    import re

    def session_token(c: TestClient, user: str) -> str:
        csrf = c.get("/login").cookies.get("eltrace_csrf") or c.cookies.get("eltrace_csrf")
        c.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": csrf}, follow_redirects=False)
        return re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").text).group(1)  # type: ignore[union-attr]

    other = TestClient(client.app)
    mine, theirs = session_token(client, "admin"), session_token(other, "operator")
    assert mine != theirs
    assert client.post("/logout", data={"csrf_token": theirs}, follow_redirects=False).status_code == 403
    client.cookies.set("eltrace_csrf", "planted")  # cookie tossing: a matching cookie and field, no session binding
    assert client.post("/logout", data={"csrf_token": "planted"}, follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": mine}, follow_redirects=False).status_code == 303


def test_an_operator_does_not_read_complaints_through_the_module_record(client: TestClient, db_url: str) -> None:
    from services.complaints import service as cs
    from services.core.db import make_engine, make_sessionmaker, transaction

    due = {"D0": 48, "D1": 48, "D2": 48, "D3": 48, "D4": 168, "D5": 336, "D6": 336, "D7": 600, "D8": 720}
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        from services.core.time import utcnow

        cs.create_complaint(
            session=s,
            customer="SolarCo Confidential",
            project="",
            site="",
            received_at=utcnow(),
            channel="email",
            symptom="cell_crack",
            severity="major",
            description="d",
            barcodes=["M000000000"],
            actor="cs1",
            due_hours=due,
        )
    op = client.get("/api/v1/modules/M000000000", headers=token(client, "operator")).json()
    qe = client.get("/api/v1/modules/M000000000", headers=token(client, "quality_engineer")).json()
    assert op["complaints"] == [] and op["complaints_not_shown"] == 1
    assert qe["complaints"][0]["customer"] == "SolarCo Confidential" and qe["complaints_not_shown"] == 0
    page = client.get("/modules/M000000000", headers={**token(client, "operator"), "Accept": "text/html"})
    assert page.status_code == 200 and "SolarCo Confidential" not in page.text and "1 (shown to quality" in page.text
