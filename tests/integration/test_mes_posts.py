"""MES in, one message at a time: the batch import's rules, idempotent by the MES's own id, MES keys only."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.errors import Conflict
from services.imports import mes
from services.imports.orm import MesMessage
from services.inspection.orm import Module
from services.traceability.orm import MaterialLot, ModuleMaterial, Product, WorkOrder
from services.traceability.schemas import ImportKind
from tests.support.http import token

PRODUCT = {"code": "P-MES-1", "series": "TOPCon 182", "cell_format": "182 half-cut", "grid": "2x12", "strings": 6}
ORDER = {"code": "WO-MES-1", "product": "P-MES-1", "factory": "F1", "line": "L3", "planned_qty": 500}
LOT = {"code": "CL-MES-1", "kind": "cell", "supplier": "CellCo"}
BUILD = {"barcode": "JT26W4800777", "work_order": "WO-MES-1", "lots": {"cell": "CL-MES-1", "glass": "GL-MES-9"}}


def _post(client: TestClient, kind: str, mes_id: str, row: dict[str, object], key: str | None = None) -> tuple[int, dict]:
    headers = {"X-Device-Key": key or client.mes_key}  # type: ignore[attr-defined]
    r = client.post(f"/api/v1/mes/{kind}", headers=headers, json={"mes_id": mes_id, "row": row})
    return r.status_code, r.json()


def _sessions(client: TestClient) -> sessionmaker[Session]:
    return make_sessionmaker(client.app.state.engine)  # type: ignore[attr-defined]


def test_single_messages_build_the_record_and_a_resent_message_is_answered_not_applied(client: TestClient) -> None:
    # A work order for a product eltrace has not heard of: refused with the reason, nothing kept, id still free.
    code, body = _post(client, "work_orders", "MSG-2", ORDER)
    assert code == 400, body
    assert "unknown product P-MES-1" in body["report"]["errors"][0]["message"]
    code, body = _post(client, "products", "MSG-1", PRODUCT)
    assert code == 200 and {k: body[k] for k in ("mes_id", "kind", "outcome", "replayed")} == {
        "mes_id": "MSG-1",
        "kind": "products",
        "outcome": "imported",
        "replayed": False,
    }
    code, first = _post(client, "work_orders", "MSG-2", ORDER)
    assert code == 200 and first["outcome"] == "imported" and first["replayed"] is False
    assert _post(client, "material_lots", "MSG-3", LOT)[1]["outcome"] == "imported"
    assert _post(client, "module_builds", "MSG-4", BUILD)[1]["outcome"] == "imported"
    # The MES resends (a lost acknowledgement): the first answer again, nothing applied twice.
    code, again = _post(client, "work_orders", "MSG-2", ORDER)
    assert code == 200 and again["replayed"] is True and again["outcome"] == "imported"
    assert again["received_at"] == first["received_at"]
    # The same id with other content is a conflict, never a silent overwrite.
    code, body = _post(client, "work_orders", "MSG-2", {**ORDER, "planned_qty": 900})
    assert code == 409 and "other content" in body["detail"]
    # A new message with the same record is fine and changes nothing.
    assert _post(client, "material_lots", "MSG-5", LOT)[1]["outcome"] == "unchanged"
    with transaction(_sessions(client)) as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.code == "WO-MES-1")) == 1
        assert s.scalar(select(WorkOrder.planned_qty).where(WorkOrder.code == "WO-MES-1")) == 500
        assert s.scalar(select(Product.strings).where(Product.code == "P-MES-1")) == 6
        module = s.scalars(select(Module).where(Module.barcode == BUILD["barcode"])).one()
        assert module.product_code == "P-MES-1" and module.work_order_id is not None
        lots = s.execute(
            select(MaterialLot.code, MaterialLot.supplier)
            .join(ModuleMaterial, ModuleMaterial.lot_id == MaterialLot.id)
            .where(ModuleMaterial.module_id == module.id)
            .order_by(MaterialLot.code)
        ).all()
        assert [tuple(x) for x in lots] == [("CL-MES-1", "CellCo"), ("GL-MES-9", "")]
        assert s.scalar(select(func.count()).select_from(MesMessage)) == 5


def test_a_lot_named_by_a_build_first_gets_its_supplier_when_the_lot_message_arrives(client: TestClient) -> None:
    for kind, mid, row in (("products", "A", PRODUCT), ("work_orders", "B", ORDER), ("module_builds", "C", BUILD)):
        assert _post(client, kind, mid, row)[0] == 200
    assert _post(client, "material_lots", "D", {"code": "GL-MES-9", "kind": "glass", "supplier": "GlassCo"})[1]["outcome"] == (
        "imported"
    )
    code, body = _post(client, "material_lots", "E", {"code": "GL-MES-9", "kind": "eva"})
    assert code == 400 and "exists as a glass lot" in body["report"]["errors"][0]["message"]
    code, body = _post(client, "material_lots", "F", {"code": "GL-MES-9", "kind": "glass", "supplier": "Other"})
    assert code == 400 and "exists with supplier GlassCo" in body["report"]["errors"][0]["message"]


def test_only_mes_client_keys_post_messages(client: TestClient) -> None:
    assert _post(client, "products", "X", PRODUCT, key=client.device_key)[0] == 403  # type: ignore[attr-defined]
    assert _post(client, "products", "X", PRODUCT, key="nope")[0] == 401
    r = client.post("/api/v1/mes/products", headers=token(client, "quality_engineer"), json={"mes_id": "X", "row": PRODUCT})
    assert r.status_code == 401
    assert _post(client, "products", "bad id with spaces", PRODUCT)[0] == 422
    assert _post(client, "colours", "X", PRODUCT)[0] == 422


def test_the_same_id_arriving_twice_at_once_is_applied_once(db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(db_url))
    msg = mes.MesPost(mes_id="RACE-1", row=PRODUCT)
    a_applied, b_started = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with transaction(sessions) as s:
            outcome["a"] = mes.post(session=s, source="mes-1", kind=ImportKind.PRODUCTS, message=msg).outcome
            a_applied.set()
            b_started.wait(10)
            time.sleep(0.5)  # B has read "no such message" and waits on our write

    t = threading.Thread(target=first)
    t.start()
    assert a_applied.wait(10)
    b_started.set()
    try:
        with transaction(sessions) as s:
            outcome["b"] = mes.post(session=s, source="mes-1", kind=ImportKind.PRODUCTS, message=msg).replayed
    except Conflict as exc:
        outcome["b"] = str(exc)
    t.join()
    assert outcome["a"] == "imported"
    assert outcome["b"] is True or "twice at once" in str(outcome["b"])
    with transaction(sessions) as s:
        assert s.scalar(select(func.count()).select_from(MesMessage)) == 1
        assert s.scalar(select(func.count()).select_from(Product)) == 1
