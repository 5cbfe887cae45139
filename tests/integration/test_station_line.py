"""An operator works the line of the rework station they stand at (its registered line), not only their own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.core.db import make_engine, make_sessionmaker, transaction
from services.devices.service import register_station
from services.security.service import create_user
from tests.support.http import PASSWORD, token

BARCODE = "M000000001"  # imaged at STR-EL-01 by the client fixture


def _setup(db_url: str) -> None:
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        register_station(session=s, code="STR-EL-01", line="L1", actor="admin")
        register_station(session=s, code="RW-01", line="L1", actor="admin")
        register_station(session=s, code="RW-02", line="L2", actor="admin")
        create_user(session=s, username="op-l2", password=PASSWORD, role="operator", line="L2")


def _scan(client: TestClient, who: dict[str, str], station: str, barcode: str = BARCODE):  # type: ignore[no-untyped-def]
    return client.get("/rework", headers=who, params={"barcode": barcode, "station": station})


def test_the_station_line_decides_what_an_operator_sees(client: TestClient, db_url: str) -> None:
    _setup(db_url)
    op = token(client, "op-l2")  # bound to line L2 ...
    at_l1 = _scan(client, op, "RW-01")  # ... standing at a rework station of line L1
    assert at_l1.status_code == 200 and BARCODE in at_l1.text and "not a module of line" not in at_l1.text
    at_l2 = _scan(client, op, "RW-02")
    assert at_l2.status_code == 404 and f"{BARCODE} is not a module of line L2" in at_l2.text
    unregistered = _scan(client, op, "RW-09")  # no registered line: the operator's own
    assert unregistered.status_code == 404 and "not a module of line L2" in unregistered.text
    unknown = _scan(client, op, "RW-01", "M999999999")
    assert unknown.status_code == 404 and "Unknown barcode M999999999" in unknown.text
    anyone = token(client, "operator")  # no line of their own: the station's line still applies
    assert _scan(client, anyone, "RW-02").status_code == 404 and _scan(client, anyone, "RW-01").status_code == 200
    qe = token(client, "quality_engineer")  # quality engineers see every line
    assert _scan(client, qe, "RW-02").status_code == 200


def test_registering_a_station_on_a_line_is_audited(client: TestClient, db_url: str) -> None:
    _setup(db_url)
    admin = token(client, "admin")
    stations = {s["code"]: s["line"] for s in client.get("/api/v1/stations", headers=token(client, "quality_engineer")).json()}
    assert stations["RW-01"] == "L1" and stations["RW-02"] == "L2"
    audit = client.get("/api/v1/audit", headers=admin, params={"entity": "station"})
    assert audit.status_code == 200 and "RW-02" in audit.text
