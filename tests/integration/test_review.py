"""The EL review (issue 15, item 1): REVIEW images become NG (rework) or OK by an operator's word, all or nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from services.audit.orm import AuditEntry
from services.core.db import make_engine, make_sessionmaker, transaction
from services.inspection.orm import FirstPassDay, Inspection
from services.labels.service import floor_labels
from services.review.orm import CellReview
from services.rework.orm import ReworkLoop
from tests.support.factories import ingest, later, result
from tests.support.http import PASSWORD, token

pytestmark = pytest.mark.timeout(120)


def _send(db_url: str, *envs: object) -> None:
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        dev = s.execute(text("select id from device where code='edge-t1'")).scalar_one()
        ingest(s, [e for e, _ in envs], dev)  # type: ignore[misc]


def _count(db_url: str, stmt: object) -> int:
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        return int(s.scalar(stmt) or 0)  # type: ignore[call-overload]


def _rollup(db_url: str, verdict: str) -> int:
    return _count(db_url, select(func.coalesce(func.sum(FirstPassDay.strings), 0)).where(FirstPassDay.verdict == verdict))


def _cells(client: TestClient, rid: str, h: dict[str, str]) -> list[dict[str, object]]:
    r = client.get(f"/api/v1/review/{rid}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()["cells"]  # type: ignore[no-any-return]


def test_a_confirmed_cell_opens_the_loop_a_cleared_one_passes_and_both_become_labels(client: TestClient, db_url: str) -> None:
    env, _ = result("MRV0000001", 2, review=[(1, 3, "crack"), (1, 5, "dark_spot")], at=later(5))
    _send(db_url, (env, b""))
    op = token(client, "operator")
    q = client.get("/api/v1/review/queue", params={"station": "STR-EL-01"}, headers=op).json()
    assert (q["total"], [i["result_id"] for i in q["items"]], q["items"][0]["review_cells"]) == (1, [env.result_id], 2)
    assert q["items"][0]["overdue"] is True  # captured on 2026-11-01: far past the 30 min limit
    first, second = _cells(client, env.result_id, op)
    assert (first["model_cls"], second["model_cls"], first["decision"]) == ("crack", "dark_spot", None)
    review_before, ng_before = _rollup(db_url, "REVIEW"), _rollup(db_url, "NG")

    body = {
        "station": "STR-EL-01",
        "cells": [
            {"defect_id": first["defect_id"], "decision": "DEFECT", "cls": "finger_interruption"},
            {"defect_id": second["defect_id"], "decision": "OK"},
        ],
    }
    r = client.post(f"/api/v1/review/{env.result_id}", headers=op, json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["verdict"], r.json()["defects"], r.json()["cleared"]) == ("NG", 1, 1)
    # The rework station now shows the confirmed cell with the confirmed class, in an open loop.
    v = client.get("/api/v1/rework/MRV0000001", headers=op).json()
    assert v["state"] == "NG" and [(d["col"], d["cls"]) for d in v["defects"]] == [(3, "finger_interruption")]
    assert _count(db_url, select(func.count(ReworkLoop.id)).where(ReworkLoop.state == "open")) >= 1
    # The first-pass roll-up moves with the verdict (the dashboard's rework rate counts this string as NG).
    assert (_rollup(db_url, "REVIEW"), _rollup(db_url, "NG")) == (review_before - 1, ng_before + 1)
    assert _count(db_url, select(func.count(AuditEntry.id)).where(AuditEntry.action == "review.complete")) == 1
    # Done: out of the queue, and a second review is refused.
    assert client.get("/api/v1/review/queue", headers=op).json()["total"] == 0
    again = client.post(f"/api/v1/review/{env.result_id}", headers=op, json=body)
    assert again.status_code == 409 and "already reviewed" in again.json()["detail"]
    # The model's own word stays in the stored cell scores.
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        insp = s.scalars(select(Inspection).where(Inspection.result_id == env.result_id)).one()
        assert (insp.verdict, insp.ng_cells, insp.review_cells) == ("NG", 1, 0)
        assert insp.cell_scores[2][:3] == [1, 3, "REVIEW"]
        labels = [(x.col, x.label, x.model_class, x.source, x.by) for x in floor_labels(session=s) if x.barcode == "MRV0000001"]
    assert sorted(labels) == [
        (3, "finger_interruption", "crack", "review", "operator"),
        (5, "ok", "dark_spot", "review", "operator"),
    ]


def test_an_all_ok_review_passes_the_string_and_a_review_retest_closes_the_repaired_loop(client: TestClient, db_url: str) -> None:
    op = token(client, "operator")
    env, _ = result("MRV0000002", 1, review=[(1, 4, "crack")], at=later(5))
    _send(db_url, (env, b""))
    (cell,) = _cells(client, env.result_id, op)
    body = {"station": "STR-EL-01", "cells": [{"defect_id": cell["defect_id"], "decision": "OK"}]}
    assert client.post(f"/api/v1/review/{env.result_id}", headers=op, json=body).json()["verdict"] == "OK"
    assert client.get("/api/v1/rework/MRV0000002", headers=op).json()["state"] == "OK"

    # A repaired string re-imaged as REVIEW waits; the review's OK closes the loop.
    ng, _ = result("MRV0000003", 1, ng=[(1, 2, "crack")], at=later(5))
    _send(db_url, (ng, b""))
    d = client.get("/api/v1/rework/MRV0000003", headers=op).json()["defects"][0]
    fix = {"defect_id": d["defect_id"], "disposition": "repaired", "repair_code": "RESOLDER", "station": "RW-01"}
    assert client.post(f"/api/v1/rework/loops/{d['loop_id']}/dispositions", headers=op, json=fix).status_code == 200
    retest, _ = result("MRV0000003", 1, review=[(1, 2, "crack")], at=later(40))
    _send(db_url, (retest, b""))
    assert client.get("/api/v1/rework/MRV0000003", headers=op).json()["state"] == "REVIEW"
    (cell,) = _cells(client, retest.result_id, op)
    body = {"station": "STR-EL-01", "cells": [{"defect_id": cell["defect_id"], "decision": "OK"}]}
    assert client.post(f"/api/v1/review/{retest.result_id}", headers=op, json=body).status_code == 200
    v = client.get("/api/v1/rework/MRV0000003", headers=op).json()
    assert v["state"] == "OK" and [h["state"] for h in v["history"]] == ["closed"]


def test_a_refused_review_changes_nothing(client: TestClient, db_url: str) -> None:
    op = token(client, "operator")
    env, _ = result("MRV0000004", 1, review=[(1, 3, "crack"), (1, 6, "crack")], at=later(5))
    _send(db_url, (env, b""))
    a, b = _cells(client, env.result_id, op)
    url = f"/api/v1/review/{env.result_id}"
    half = client.post(url, headers=op, json={"station": "STR-EL-01", "cells": [{"defect_id": a["defect_id"], "decision": "OK"}]})
    assert half.status_code == 409 and "not decided yet (1-6)" in half.json()["detail"]
    as_ok = {"defect_id": b["defect_id"], "decision": "DEFECT", "cls": "ok"}
    bad = client.post(url, headers=op, json={"station": "STR-EL-01", "cells": [as_ok]})
    assert bad.status_code == 400 and "not a defect class" in bad.json()["detail"]
    other = client.post(url, headers=op, json={"station": "STR-EL-01", "cells": [{"defect_id": 999999, "decision": "OK"}]})
    assert other.status_code == 400
    assert _count(db_url, select(func.count(CellReview.id))) == 0  # all or nothing: no half-decided image
    assert client.get("/api/v1/review/queue", headers=op).json()["total"] == 1
    assert client.post("/api/v1/review/0000", headers=op, json={"station": "S", "cells": [as_ok]}).status_code == 404
    # An OK image is not reviewed; a string imaged again since is judged by its newer image.
    ok_env, _ = result("MRV0000005", 1, at=later(5))
    _send(db_url, (ok_env, b""))
    r = client.post(f"/api/v1/review/{ok_env.result_id}", headers=op, json={"station": "S", "cells": [as_ok]})
    assert r.status_code == 409 and "only REVIEW images" in r.json()["detail"]
    _send(db_url, result("MRV0000004", 1, at=later(30)))
    assert client.get("/api/v1/review/queue", headers=op).json()["total"] == 0
    both = [{"defect_id": c["defect_id"], "decision": "OK"} for c in (a, b)]
    late = client.post(url, headers=op, json={"station": "STR-EL-01", "cells": both})
    assert late.status_code == 409 and "imaged again" in late.json()["detail"]


def _page_session(client: TestClient, user: str) -> str:
    csrf = client.get("/login").cookies.get("eltrace_csrf") or client.cookies.get("eltrace_csrf")
    client.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": csrf}, follow_redirects=False)
    page = client.get("/review", params={"station": "STR-EL-01"})
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_station_keys_decide_take_back_and_finish(client: TestClient, db_url: str) -> None:
    env, _ = result("MRV0000006", 3, review=[(1, 8, "crack")], at=later(5))
    _send(db_url, (env, b""))
    csrf = _page_session(client, "operator")
    (cell,) = _cells(client, env.result_id, {})

    def key(k: str, **kw: object) -> tuple[int, dict[str, object]]:
        data = {"csrf_token": csrf, "result_id": env.result_id, "station": "STR-EL-01", "key": k, **kw}
        r = client.post("/review/key", data=data)
        return r.status_code, r.json()

    early, answer = key("N")
    assert early == 409 and "not decided yet" in str(answer["detail"]) and 'data-result="' in str(answer["html"])
    assert key("D", defect_id=cell["defect_id"], cls="crack")[0] == 200
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        assert [x for x in floor_labels(session=s) if x.barcode == "MRV0000006"] == []  # pending: no label yet
    status, answer = key("U")
    assert status == 200 and "Taken back: cell 1-8" in str(answer["detail"])
    assert _count(db_url, select(func.count(CellReview.id))) == 0
    assert key("O", defect_id=cell["defect_id"])[0] == 200
    status, answer = key("N")
    assert status == 200 and "OK, every doubtful cell cleared" in str(answer["detail"]) and answer["waiting"] == 0
    assert 'id="empty"' in str(answer["html"])
