"""Events out: written with the change they report, sequenced in commit order, read by the pull feed
(MES keys), pictures by signed links, subscribers managed by admins."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.core.db import make_sessionmaker, transaction
from services.events.orm import OutboxEvent
from services.events.schemas import EventType
from services.events.service import sequence
from tests.support.http import token


def _sequence(client: TestClient) -> None:
    sessions = make_sessionmaker(client.app.state.engine)  # type: ignore[attr-defined]
    with transaction(sessions) as s:
        sequence(session=s)


def test_ingest_publishes_one_event_per_new_result_and_each_loop_it_opened(client: TestClient) -> None:
    _sequence(client)
    mes = {"X-Device-Key": client.mes_key}  # type: ignore[attr-defined]
    page = client.get("/api/v1/events", headers=mes, params={"limit": 1000}).json()
    types = [e["type"] for e in page["events"]]
    assert types.count(EventType.RESULT_STORED) == 14  # the fixture stored 14 results
    assert types.count(EventType.LOOP_OPENED) == 2  # 2 of them NG
    e = next(e for e in page["events"] if e["type"] == EventType.RESULT_STORED)
    assert e["specversion"] == "1.0" and e["subject"] == e["data"]["barcode"] and len(e["sequence"]) == 16
    pic = e["data"]["picture"]
    # The picture is a short-lived signed link: it opens without a session, and not once tampered with.
    path = pic["url"].split("8000", 1)[1]
    assert client.get(path).status_code == 200
    assert client.get(path.replace("sig=", "sig=0")).status_code == 401
    # Paging: the cursor goes on where the last page stopped; the type filter applies.
    first = client.get("/api/v1/events", headers=mes, params={"limit": 5}).json()
    rest = client.get("/api/v1/events", headers=mes, params={"after": first["next"], "limit": 1000}).json()
    assert [x["id"] for x in first["events"] + rest["events"]] == [x["id"] for x in page["events"]]
    loops = client.get("/api/v1/events", headers=mes, params={"types": EventType.LOOP_OPENED}).json()["events"]
    assert len(loops) == 2 and loops[0]["data"]["loop_no"] == 1
    assert client.get("/api/v1/events", headers=mes, params={"types": "nope"}).status_code == 400
    assert client.get("/api/v1/events", headers=mes, params={"after": "x1"}).status_code == 400


def test_a_change_that_rolls_back_publishes_nothing(client: TestClient) -> None:
    from services.events.service import emit

    engine = client.app.state.engine  # type: ignore[attr-defined]
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        before = s.scalar(select(func.count()).select_from(OutboxEvent))
        emit(session=s, type=EventType.HOLD_PLACED, subject="M1", data={})
        s.rollback()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == before


def test_the_gate_over_http_blocks_an_open_loop_and_records_it(client: TestClient) -> None:
    mes = {"X-Device-Key": client.mes_key}  # type: ignore[attr-defined]
    _sequence(client)
    loops = client.get("/api/v1/events", headers=mes, params={"types": EventType.LOOP_OPENED}).json()["events"]
    ng = loops[0]["subject"]
    r = client.get(f"/api/v1/gate/{ng}", headers=mes, params={"operation": "lamination"}).json()
    assert r["decision"] == "BLOCK" and [x["check"] for x in r["reasons"]] == ["open_rework"]
    assert client.get(f"/api/v1/gate/{ng}", headers=mes, params={"operation": "welding"}).status_code == 422
    _sequence(client)
    blocked = client.get("/api/v1/events", headers=mes, params={"types": EventType.GATE_BLOCKED}).json()["events"]
    assert blocked[-1]["subject"] == ng and blocked[-1]["data"]["asked_by"] == "mes:mes-1"
    # The ERP's shipments import asks the same gate: the module with the open loop is refused, nothing ships.
    eng = token(client, "quality_engineer")
    ship = {"barcode": ng, "customer": "SolarCo", "delivery_no": "DN-1", "shipped_at": "2026-11-20T08:00:00Z"}
    r = client.post("/api/v1/imports/shipments", headers=eng, json={"rows": [ship]})
    assert r.status_code == 400 and "may not ship: rework loop open" in r.json()["report"]["errors"][0]["message"]
    assert client.get(f"/api/v1/gate/{ng}", headers=mes, params={"operation": "shipping"}).json()["decision"] == "BLOCK"


def test_admins_manage_subscribers_secret_shown_once_rotation_pause(client: TestClient) -> None:
    admin = token(client, "admin")
    r = client.post("/api/v1/event-subscribers", headers=admin, json={"name": "mes-a", "url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 201
    created = r.json()
    sid, secret = created["subscriber"]["id"], created["secret"]
    assert len(secret) == 64
    listed = client.get("/api/v1/event-subscribers", headers=admin).json()
    assert listed[0]["name"] == "mes-a" and "secret" not in listed[0] and listed[0]["lag"] == 0  # new: from now on
    rotated = client.post(f"/api/v1/event-subscribers/{sid}/rotate-secret", headers=admin).json()
    assert rotated["secret"] != secret and rotated["previous_key_valid_until"]
    assert client.post(f"/api/v1/event-subscribers/{sid}/pause", headers=admin).json()["paused"] is True
    assert client.post(f"/api/v1/event-subscribers/{sid}/resume", headers=admin).json()["paused"] is False
    dup = client.post("/api/v1/event-subscribers", headers=admin, json={"name": "mes-a", "url": "http://127.0.0.1:9/x"})
    assert dup.status_code == 409
    assert client.get("/api/v1/audit", headers=admin, params={"entity": "event_subscriber"}).status_code == 200
    assert client.delete(f"/api/v1/event-subscribers/{sid}", headers=admin).status_code == 204


def test_a_filtered_subscriber_skips_past_other_types_without_missing_its_own(client: TestClient) -> None:
    """Its cursor moves past events it does not take, so passes stop rescanning them; its own type still goes out."""
    from services.events.delivery import Deliverer, DeliverySettings
    from services.events.orm import EventSubscriber
    from services.events.schemas import SubscriberCreate
    from services.events.service import create_subscriber, emit

    sessions = make_sessionmaker(client.app.state.engine)  # type: ignore[attr-defined]
    with transaction(sessions) as s:
        spec = SubscriberCreate(name="holds-only", url="http://127.0.0.1:9/nothing-listens", types=[EventType.HOLD_PLACED])
        sub_id = create_subscriber(session=s, spec=spec, master_secret=b"m", actor="t", from_start=True).subscriber.id
    d = Deliverer(sessions, DeliverySettings(master_secret=b"m"), workers=1)
    d.step()  # the fixture's 14 results and 2 loops: none is a hold
    with sessions() as s:
        row = s.get(EventSubscriber, sub_id)
        assert row is not None and row.cursor == 16 and row.delivered_total == 0 and row.failing_since is None
    with transaction(sessions) as s:
        emit(session=s, type=EventType.HOLD_PLACED, subject="M1", data={})
    d.step()  # its own type: tried (nothing listens), and the cursor waits before it
    with sessions() as s:
        row = s.get(EventSubscriber, sub_id)
        assert row is not None and row.cursor == 16 and row.failing_since is not None


def test_one_deliverer_at_a_time_and_a_successor_takes_over_when_the_lease_runs_out(client: TestClient) -> None:
    from services.events.delivery import Deliverer, DeliverySettings

    sessions = make_sessionmaker(client.app.state.engine)  # type: ignore[attr-defined]
    first = Deliverer(sessions, DeliverySettings(master_secret=b"m", lease_s=1.5, holder="first"), workers=1)
    second = Deliverer(sessions, DeliverySettings(master_secret=b"m", lease_s=1.5, holder="second"), workers=1)
    assert first.hold_lease() and not second.hold_lease()
    assert first.step() == 0 and second.step() == 0  # the second neither sequences nor delivers
    with sessions() as s:
        assert s.scalar(select(func.max(OutboxEvent.position))) == 16  # sequenced once, by the holder
    time.sleep(0.6)  # the holder renews after a third of the lease; the row still says it is alive
    assert first.hold_lease() and not second.hold_lease()
    time.sleep(1.7)  # the holder died (it stopped renewing): its lease ran out
    assert second.hold_lease()
