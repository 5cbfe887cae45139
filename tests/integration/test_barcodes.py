"""One barcode rule for every way in: a Caps Lock scan, a scanner's trailing CR or a pasted blank finds the same
module at the API, the gate, the rework station, the imports and the complaints (services.contracts.result)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.contracts.result import normalise_barcode
from services.core.db import make_sessionmaker, transaction
from services.traceability.schemas import ShipmentIn
from tests.support.http import token


def test_the_rule() -> None:
    assert normalise_barcode("jt26w4800000") == "JT26W4800000"
    assert normalise_barcode("  JT26W4800000\r\n") == "JT26W4800000"
    assert normalise_barcode("JT26\x00W48\x1b00000") == "JT26W4800000"
    assert normalise_barcode("   ") == ""
    row = ShipmentIn.model_validate(
        {"barcode": " m000000001\t", "customer": "C", "delivery_no": "D-1", "shipped_at": "2026-11-20T08:00:00Z"}
    )
    assert row.barcode == "M000000001"


def test_a_lower_case_scan_finds_the_module_everywhere(client: TestClient) -> None:
    qe = token(client, "quality_engineer")
    assert client.get("/api/v1/modules/m000000001", headers=qe).json()["barcode"] == "M000000001"
    mes = {"X-Device-Key": client.mes_key}  # type: ignore[attr-defined]
    gate = client.get("/api/v1/gate/m000000001", headers=mes, params={"operation": "layup"}).json()
    assert gate["barcode"] == "M000000001" and "unknown_module" not in [r["check"] for r in gate["reasons"]]
    op = token(client, "operator")
    page = client.get("/rework", headers=op, params={"barcode": "m000000001\r", "station": "RW-01"})
    assert page.status_code == 200 and "M000000001" in page.text and "Unknown barcode" not in page.text
    empty = client.get("/rework", headers=op, params={"barcode": "", "station": "RW-01"})
    assert empty.status_code == 400 and "Nothing was scanned" in empty.text and "is not a module barcode" not in empty.text


def test_complaints_store_the_normalised_barcode(client: TestClient) -> None:
    from services.complaints import service as cs

    sessions = make_sessionmaker(client.app.state.engine)  # type: ignore[attr-defined]
    assert cs.parse_barcodes("barcode\nm000000001, m000000002;M000000001") == ["M000000001", "M000000002"]
    from datetime import UTC, datetime

    with transaction(sessions) as s:
        _c, unknown = cs.create_complaint(
            session=s,
            customer="SolarCo",
            received_at=datetime.now(UTC),
            channel="email",
            symptom="cell_crack",
            severity="major",
            description="cracks",
            barcodes=["m000000001 "],
            actor="cs1",
            due_hours={f"D{i}": 48 for i in range(9)},
        )
    assert unknown == []  # it is the module traceability knows
