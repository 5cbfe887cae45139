"""Reading inspections, modules and their history over HTTP: pagination, filters, an operator's line scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.core.db import make_engine, make_sessionmaker, transaction
from services.devices.service import provision_device
from services.imagestore.store import DirectoryBlobStore, store_image
from services.inspection.service import record_results
from services.security.service import create_user
from tests.conftest import SECRET
from tests.support.factories import make_envelope
from tests.support.http import PASSWORD, ROLES, token


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
    assert client.get(f"/api/v1/images/{other_sha}/preview?w=800", headers=op_a).status_code == 404  # the preview too
    assert client.get(f"/api/v1/images/{env.image.sha256}/preview?w=800", headers=op_a).status_code == 200
    qe = token(client, "quality_engineer")  # no line scope
    assert client.get("/api/v1/modules", headers=qe).json()["total"] == 4
