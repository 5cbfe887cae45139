"""The audit trail: recorded in the same transaction as each change, readable, never editable."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.core.db import make_engine
from tests.support.http import ROLES, token


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
    assert locked[0]["action"] == "user.locked" and locked[0]["reason"] == "5 failed sign-ins in a row"
    page = client.get("/audit", headers=h)
    assert page.status_code == 200 and "user.locked" in page.text and "5 failed sign-ins in a row" in page.text


def _dispose_first(client: TestClient, barcode: str = "M000000001") -> dict[str, object]:
    op = token(client, "operator")
    view = client.get(f"/api/v1/rework/{barcode}", headers=op).json()
    d = view["defects"][0]
    body = {"defect_id": d["defect_id"], "disposition": "repaired", "repair_code": "RESOLDER", "station": "RW-01"}
    r = client.post(f"/api/v1/rework/loops/{d['loop_id']}/dispositions", headers=op, json=body)
    assert r.status_code == 200, r.text
    return d  # type: ignore[no-any-return]


def test_dispositions_are_in_the_trail_as_readable_rows_filtered_and_exported(client: TestClient) -> None:
    d = _dispose_first(client)
    qe = token(client, "quality_engineer")
    items = client.get("/api/v1/audit", headers=qe, params={"entity": "module", "entity_id": "M000000001"}).json()["items"]
    mine = [e for e in items if e["action"] == "rework.disposition"]
    assert len(mine) == 1 and mine[0]["actor"] == "operator"
    assert mine[0]["after"]["disposition"] == "repaired" and mine[0]["after"]["cell"] == f"{d['row']}-{d['col']}"
    # The page: the disposition in words, its fields as rows, no Python or JSON punctuation.
    page = client.get("/audit", headers=qe, params={"action": "rework.disposition"})
    assert page.status_code == 200 and "rework disposition" in page.text and "1 entries" in page.text
    assert "re-soldered" in page.text and "{'" not in page.text and "&#39;" not in page.text
    zh = client.get("/audit", headers={**qe, "Accept-Language": "zh-CN"}, params={"action": "rework.disposition"})
    assert "返修处置" in zh.text and "rework disposition" not in zh.text
    # Filters: another actor, a prefix of actions, a day range that excludes today.
    assert "0 entries" in client.get("/audit", headers=qe, params={"action": "rework.disposition", "actor": "qe2"}).text
    assert "rework disposition" in client.get("/audit", headers=qe, params={"action": "rework."}).text
    assert "0 entries" in client.get("/audit", headers=qe, params={"action": "rework.", "until": "2020-01-01"}).text
    bad = client.get("/audit", headers=qe, params={"since": "yesterday"})
    assert bad.status_code == 200 and "Dates are days like" in bad.text
    # CSV: the same filter, readable changes, a BOM for spreadsheet programs.
    csv_ = client.get("/audit.csv", headers=qe, params={"entity_id": "M000000001", "action": "rework."})
    assert csv_.status_code == 200 and csv_.text.startswith("\ufeff") and "attachment" in csv_.headers["content-disposition"]
    lines = csv_.text.lstrip("\ufeff").strip().splitlines()
    assert len(lines) == 2 and "disposition: repaired" in lines[1] and "operator" in lines[1]
    assert client.get("/audit.csv", headers=token(client, "operator")).status_code == 403


def test_the_hold_list_downloads_as_csv_open_ones_or_with_decisions(client: TestClient) -> None:
    qe = token(client, "quality_engineer")
    for b in ("M000000001", "M000000002"):
        r = client.post(f"/api/v1/modules/{b}/hold", headers=qe, json={"reason": "suspect cell lot"})
        assert r.status_code == 201, r.text
    first = client.post("/api/v1/modules/M000000001/hold", headers=qe, json={"reason": "again"}).json()[0]["id"]
    r = client.post(f"/api/v1/holds/{first}/decision", headers=qe, json={"decision": "release", "reason": "lot cleared"})
    assert r.status_code == 200, r.text
    open_ = client.get("/holds.csv", headers=qe).text.lstrip("\ufeff").strip().splitlines()
    assert len(open_) == 2 and "M000000002" in open_[1] and "suspect cell lot" in open_[1]
    every = client.get("/holds.csv", headers=qe, params={"decided": "true"}).text.lstrip("\ufeff").strip().splitlines()
    released = [r for r in every if "M000000001" in r]
    assert len(every) == 3 and ",release,lot cleared," in released[0]
    assert ",placed by hand," in open_[1]  # the source in words, not its code
