"""Signing in returns to where the person was (the station keeps its ?station=), says why it asked, and never
redirects off the site."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from api.errors import safe_next
from tests.support.http import PASSWORD

HTML = {"Accept": "text/html"}


def _csrf(client: TestClient, url: str) -> str:
    page = client.get(url, headers=HTML)
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_sign_in_goes_back_to_the_station_it_was_asked_from(client: TestClient) -> None:
    r = client.get("/rework", params={"station": "RW-01"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert target.path == "/login" and parse_qs(target.query) == {"next": ["/rework?station=RW-01"]}
    login = r.headers["location"]
    page = client.get(login, headers=HTML)
    assert 'name="next" value="/rework?station=RW-01"' in page.text and "signin-notice" not in page.text
    form = {"username": "operator", "password": PASSWORD, "csrf_token": _csrf(client, login), "next": "/rework?station=RW-01"}
    done = client.post("/login", data=form, headers=HTML, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/rework?station=RW-01"


def test_an_expired_session_says_so_and_a_lost_key_is_not_silent(client: TestClient) -> None:
    client.cookies.set("eltrace_token", "expired-or-revoked")
    r = client.get("/holds", headers=HTML, follow_redirects=False)
    assert parse_qs(urlsplit(r.headers["location"]).query)["why"] == ["expired"]
    assert "Your session has ended" in client.get(r.headers["location"], headers=HTML).text
    form = {"barcode": "M000000000", "station": "RW-01", "loop_id": 1, "defect_id": 1, "key": "F"}
    key = client.post(
        "/rework/dispose",
        data={**form, "csrf_token": _csrf(client, "/login")},
        headers={**HTML, "Referer": "http://testserver/rework?barcode=M000000000&station=RW-01"},
        follow_redirects=False,
    )
    assert key.status_code == 303  # a key pressed after the session ended: not recorded, and the person is told
    q = parse_qs(urlsplit(key.headers["location"]).query)
    assert q["why"] == ["expired_post"] and q["next"] == ["/rework?barcode=M000000000&station=RW-01"]
    assert "NOT recorded" in client.get(key.headers["location"], headers=HTML).text


def test_no_open_redirect() -> None:
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "evil", "", None, "/ok\r\nSet-Cookie: x=1"):
        assert safe_next(bad) == "/", bad
    assert safe_next("/modules/M000000001") == "/modules/M000000001"


def _claims(cookie: str) -> dict[str, object]:
    import jwt

    return dict(jwt.decode(cookie, options={"verify_signature": False}))


def test_a_page_session_slides_while_the_person_works_up_to_a_shift(client: TestClient) -> None:
    """Renewed past half its 30 minutes, keeping the sign-in time; no renewal 12 h after signing in."""
    from datetime import timedelta

    from services.core.time import set_clock, utcnow

    t0 = utcnow()
    set_clock(t0)
    try:
        form = {"username": "operator", "password": PASSWORD, "csrf_token": _csrf(client, "/login"), "next": "/"}
        client.post("/login", data=form, headers=HTML, follow_redirects=False)
        first = client.cookies.get("eltrace_token")
        assert first
        set_clock(t0 + timedelta(minutes=10))  # before half its life: the same cookie
        r = client.get("/rework", headers=HTML)
        assert r.status_code == 200 and "eltrace_token" not in r.headers.get("set-cookie", "")
        set_clock(t0 + timedelta(minutes=20))  # past half: a fresh token, same sign-in time
        r = client.get("/rework", headers=HTML)
        renewed = client.cookies.get("eltrace_token")
        assert "eltrace_token" in r.headers.get("set-cookie", "") and renewed != first
        assert _claims(renewed)["auth"] == _claims(first)["auth"] and _claims(renewed)["iat"] > _claims(first)["iat"]
        set_clock(t0 + timedelta(hours=12, minutes=1))  # a shift later: no more renewal, the person signs in again
        r = client.get("/rework", headers=HTML)
        assert "eltrace_token" not in r.headers.get("set-cookie", "")
    finally:
        set_clock(None)


def test_the_terminal_keeps_its_station(client: TestClient) -> None:
    form = {"username": "operator", "password": PASSWORD, "csrf_token": _csrf(client, "/login"), "next": "/"}
    client.post("/login", data=form, headers=HTML, follow_redirects=False)
    assert 'id="no-station"' in client.get("/rework", headers=HTML).text  # never "REWORK" without saying so
    client.get("/rework", params={"station": "RW-07"}, headers=HTML)
    page = client.get("/rework", headers=HTML)  # the nav's Rework link: the terminal's own station
    assert 'data-station="RW-07"' in page.text and 'id="no-station"' not in page.text
