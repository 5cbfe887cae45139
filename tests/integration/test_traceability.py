"""Production context imports, the containment query on a factory history with known answers, dashboard figures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.errors import InvalidInput
from services.devices.orm import Device
from services.devices.service import provision_device
from services.imports.rows import import_rows, parse_csv
from services.inspection.orm import CellDefect, Inspection, Module
from services.inspection.shifts import Shift, ShiftCalendar, replace_calendar
from services.metrics.dashboard import dashboard
from services.rework import service as rw
from services.rework import views
from services.rework.orm import ModuleHold, ReworkLoop
from services.traceability.containment import containment, csv_lines, module_ids_of
from services.traceability.orm import Shipment, WorkOrder
from services.traceability.schemas import ContainmentQuery
from tests.conftest import SECRET
from tests.support.factories import NO_SHIP_GATE, ingest, result
from tests.support.http import token

pytestmark = pytest.mark.timeout(180)
T = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
A = [f"MA{i:06d}" for i in range(10)]
B = [f"MB{i:06d}" for i in range(10)]
C = [f"MC{i:06d}" for i in range(10)]


@dataclass
class Factory:
    sessions: sessionmaker[Session]

    def q(self, **kw: object):  # type: ignore[no-untyped-def]
        with transaction(self.sessions) as s:
            return containment(session=s, query=ContainmentQuery.model_validate(kw), limit=None)


def _import(s: Session, kind: str, rows: list[dict[str, object]]) -> None:
    report = import_rows(session=s, kind=kind, rows=rows, actor="mes", gate_checks=NO_SHIP_GATE)  # type: ignore[arg-type]
    assert report.ok, report.errors


@pytest.fixture
def factory(db_url: str) -> Iterator[Factory]:
    """30 modules, 3 work orders, shared lots, 2 stations x 2 shifts, 6 shipped: every answer is known."""
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        for code, st in (("edge-1", "STR-EL-01"), ("edge-2", "STR-EL-02")):
            provision_device(session=s, code=code, station_code=st, master_secret=SECRET.encode())
        devs = dict(s.execute(select(Device.code, Device.id)).all())
        _import(s, "products", [{"code": "P-HJT-210", "series": "HJT 210", "cell_format": "210 half-cut", "grid": "2x12"}])
        _import(
            s,
            "work_orders",
            [{"code": f"WO-{x}", "product": "P-HJT-210", "factory": "F1", "line": "L1" if x != "C" else "L2"} for x in "ABC"],
        )
        builds = (
            [{"barcode": b, "work_order": "WO-A", "lots": {"cell": "CL-1", "glass": "GL-1"}} for b in A]
            + [
                {"barcode": b, "work_order": "WO-B", "lots": {"cell": "CL-1" if i < 5 else "CL-2", "glass": "GL-2"}}
                for i, b in enumerate(B)
            ]
            + [{"barcode": b, "work_order": "WO-C", "lots": {"cell": "CL-3", "glass": "GL-2"}} for b in C]
        )
        _import(s, "module_builds", builds)
        envs = []
        for i, b in enumerate(A):  # station 1, shift A (06:00-14:00)
            envs.append(
                (
                    result(
                        b,
                        1,
                        at=T + timedelta(minutes=i),
                        station="STR-EL-01",
                        device="edge-1",
                        ng=[(1, 3, "crack")] if i == 0 else (),
                    ),
                    devs["edge-1"],
                )
            )
        for i, b in enumerate(B):  # station 1, shift B (14:00-22:00)
            envs.append(
                (result(b, 1, at=T + timedelta(hours=8, minutes=i), station="STR-EL-01", device="edge-1"), devs["edge-1"])
            )
        for i, b in enumerate(C):  # station 2, shift A
            envs.append((result(b, 1, at=T + timedelta(minutes=i), station="STR-EL-02", device="edge-2"), devs["edge-2"]))
        for (env, _png), d in envs:
            ingest(s, [env], d)
    with transaction(sessions) as s:
        ships = [
            {"barcode": b, "customer": "SolarCo", "delivery_no": "DN-1", "site": "Site 1", "shipped_at": "2026-11-10T00:00:00Z"}
            for b in A[:5]
        ]
        ships.append({"barcode": C[0], "customer": "PVFarm", "delivery_no": "DN-2", "shipped_at": "2026-11-11T00:00:00Z"})
        _import(s, "shipments", ships)
    yield Factory(sessions)


def test_containment_answers_on_a_known_factory_history(factory: Factory) -> None:
    by_wo = factory.q(barcodes=[A[3]], share=["work_order"])
    assert [r.barcode for r in by_wo.items] == A
    assert by_wo.by_status == {"SHIPPED": 5, "WIP": 5} and by_wo.by_customer == {"SolarCo": 5}
    assert {r.customer for r in by_wo.items if r.status == "SHIPPED"} == {"SolarCo"}
    by_lot = factory.q(barcodes=[A[3]], share=["material_lot"])
    assert {r.barcode for r in by_lot.items} == set(A) | set(B[:5])  # CL-1 reached five WO-B modules
    assert set(by_lot.criteria) == {"suspect", "cell lot CL-1", "glass lot GL-1"}
    by_shift = factory.q(barcodes=[B[7]], share=["station_shift"])
    assert {r.barcode for r in by_shift.items} == set(B)
    assert by_shift.criteria == ["suspect", "station STR-EL-01 shift 2026-11-02/B"]
    both = factory.q(barcodes=[C[1], "NOPE000001"])
    assert both.unknown_barcodes == ["NOPE000001"]
    assert {r.barcode for r in both.items} == set(C) | set(B)  # GL-2 is shared by WO-B and WO-C
    assert both.by_customer == {"PVFarm": 1}
    assert {r.barcode for r in factory.q(lot="CL-2").items} == set(B[5:])
    assert {r.barcode for r in factory.q(work_order="WO-C").items} == set(C)
    window = factory.q(station="STR-EL-01", since=T.isoformat(), until=(T + timedelta(hours=4)).isoformat())
    assert {r.barcode for r in window.items} == set(A)
    assert {r.barcode for r in factory.q(station="STR-EL-02", shift="2026-11-02/A").items} == set(C)
    row = next(r for r in by_lot.items if r.barcode == A[3])
    assert set(row.matched_by) == {"suspect", "cell lot CL-1", "glass lot GL-1"}
    for bad in ({}, {"shift": "2026-11-02/A"}, {"station": "STR-EL-01"}, {"since": T.isoformat(), "until": T.isoformat()}):
        with pytest.raises(InvalidInput):
            factory.q(**bad)


def test_holding_a_containment_result_holds_what_is_still_in_the_factory(factory: Factory) -> None:
    q = ContainmentQuery(barcodes=[A[3]], share=["work_order"])
    with transaction(factory.sessions) as s:
        held = rw.place_hold(
            session=s, module_ids=module_ids_of(s, q), source="containment", reason="8D-12 suspect lot", actor="qe"
        )
    assert len(held) == 5
    with transaction(factory.sessions) as s:
        st = dict(s.execute(select(Module.barcode, Module.status).where(Module.barcode.in_(A))).all())
        assert views.count_open_holds(s) == 5
    assert [st[b] for b in A] == ["SHIPPED"] * 5 + ["HOLD"] * 5
    # Holding again changes nothing: they already are on hold.
    with transaction(factory.sessions) as s:
        assert rw.place_hold(session=s, module_ids=module_ids_of(s, q), source="containment", reason="again", actor="qe") == []
        assert s.scalar(select(func.count(ModuleHold.id))) == 5


def test_imports_are_all_or_nothing_with_every_bad_row_listed(factory: Factory) -> None:
    csv_text = (
        "barcode,customer,delivery_no,site,shipped_at\n"
        f"{A[6]},SolarCo,DN-3,Site 2,2026-11-12T00:00:00Z\n"
        "NOTBUILT01,SolarCo,DN-3,Site 2,2026-11-12T00:00:00Z\n"
        f"{A[0]},SolarCo,DN-9,Site 2,2026-11-12T00:00:00Z\n"
        f"{A[7]},SolarCo,DN-3,Site 2,yesterday\n"
        f"{A[6]},SolarCo,DN-3,Site 2,2026-11-12T00:00:00Z\n"
    )
    rows, pre = parse_csv("shipments", csv_text)
    with transaction(factory.sessions) as s:
        report = import_rows(session=s, kind="shipments", rows=rows, actor="erp", pre_errors=pre, gate_checks=NO_SHIP_GATE)
    assert not report.ok and report.imported == 0
    assert [(e.row, e.field) for e in report.errors] == [(2, "barcode"), (3, "delivery_no"), (4, "shipped_at"), (5, "barcode")]
    assert (
        "unknown barcode NOTBUILT01" in report.errors[0].message
        and "already shipped in delivery DN-1" in report.errors[1].message
    )
    with transaction(factory.sessions) as s:
        assert s.scalar(select(func.count(Shipment.id))) == 6  # nothing of the bad file landed
    good = "barcode,customer,delivery_no,site,shipped_at\n" + f"{A[6]},SolarCo,DN-3,Site 2,2026-11-12T00:00:00Z\n"
    for expected_new in (1, 0):  # the same file twice: the second time nothing is new
        rows, pre = parse_csv("shipments", good)
        with transaction(factory.sessions) as s:
            report = import_rows(session=s, kind="shipments", rows=rows, actor="erp", pre_errors=pre, gate_checks=NO_SHIP_GATE)
        assert report.ok and report.imported == expected_new
    with pytest.raises(InvalidInput, match="unknown column"):
        parse_csv("shipments", "barcode,colour\nX,red\n")
    with pytest.raises(InvalidInput, match="cannot be read at line 1"):  # the schema fuzzer's 500: a bare CR
        parse_csv("shipments", "IG\r\x9dD")
    builds = "barcode,work_order,cell_lot,glass_lot\nMD00000001,WO-A,CL-9,GL-1\nMD00000002,WO-Z,CL-9,CL-1\n"
    rows, pre = parse_csv("module_builds", builds)
    with transaction(factory.sessions) as s:
        report = import_rows(session=s, kind="module_builds", rows=rows, actor="mes", pre_errors=pre)
        assert not report.ok and {(e.row, e.field) for e in report.errors} == {(2, "work_order"), (2, "glass_lot")}
        assert s.scalar(select(func.count(Module.id)).where(Module.barcode.like("MD%"))) == 0
        assert s.scalar(select(func.count(WorkOrder.id))) == 3


def test_shift_calendar_assigns_night_shifts_to_the_day_they_started() -> None:
    cal = ShiftCalendar((Shift("D", 7 * 60, 19 * 60), Shift("N", 19 * 60, 7 * 60)), utc_offset_minutes=8 * 60)
    assert cal.shift_of(datetime(2026, 11, 25, 0, 0, tzinfo=UTC)) == "2026-11-25/D"  # 08:00 local
    assert cal.shift_of(datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == "2026-11-25/N"  # 20:00 local
    assert cal.shift_of(datetime(2026, 11, 25, 20, 0, tzinfo=UTC)) == "2026-11-25/N"  # 04:00 local next day
    for bad in ((Shift("A", 0, 600),), (Shift("A", 0, 720), Shift("B", 600, 0))):
        with pytest.raises(InvalidInput, match="exactly once"):
            ShiftCalendar(bad)


def test_a_configured_calendar_applies_to_new_results(db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        provision_device(session=s, code="edge-1", station_code="STR-EL-01", master_secret=SECRET.encode())
        replace_calendar(session=s, shifts=[Shift("D", 6 * 60, 18 * 60), Shift("N", 18 * 60, 6 * 60)], utc_offset_minutes=60)
    with transaction(sessions) as s:
        dev = s.scalar(select(Device.id))
        ingest(s, [result("MS00000001", 1, at=datetime(2026, 11, 3, 4, 30, tzinfo=UTC), device="edge-1")[0]], dev)  # 05:30 local
        page = views.station_view(session=s, barcode="MS00000001", loop_limit=2)
    assert page.state == "OK"
    with transaction(sessions) as s:
        assert s.scalar(select(Inspection.shift)) == "2026-11-02/N"


def test_dashboard_figures_on_a_known_scenario(db_url: str) -> None:
    """Station 1: 10 strings a day for 5 days, 1 NG a day (2 on day 1), 7 on day 4 (out of control); the rest known too."""
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        provision_device(session=s, code="edge-1", station_code="STR-EL-01", master_secret=SECRET.encode())
        dev = s.scalar(select(Device.id))
    ng_per_day = [1, 1, 1, 7, 1]
    n = 0
    for day, ngs in enumerate(ng_per_day):
        with transaction(sessions) as s:
            for k in range(10):
                n += 1
                ng = [(1, 2, "crack")] if k < ngs else ([(1, 5, "dark_spot")] if k == ngs and day == 0 else ())
                ingest(s, [result(f"MK{n:08d}", 1, ng=ng, at=T + timedelta(days=day, minutes=k), device="edge-1")[0]], dev)
    with transaction(sessions) as s:
        assert views.holds(s) == []
        loop_ids = list(s.scalars(select(ReworkLoop.id).order_by(ReworkLoop.id)))
    # 12 loops (10 + 2 on day 0: crack and dark spot): 3 false calls, the rest repaired.
    assert len(loop_ids) == 12
    with transaction(sessions) as s:
        for i, lid in enumerate(loop_ids):
            view_defect = s.execute(
                select(CellDefect.id)
                .join(ReworkLoop, ReworkLoop.ng_inspection_id == CellDefect.inspection_id)
                .where(ReworkLoop.id == lid)
            ).scalar_one()
            item = (
                rw.DispositionInput(view_defect, "false_call")
                if i < 3
                else rw.DispositionInput(view_defect, "repaired", "RESOLDER")
            )
            rw.dispose(session=s, loop_id=lid, item=item, actor="op", station="RW-1")
    # One escape: final EL finds a defect in a cell string EL passed on an OK module.
    with transaction(sessions) as s:
        ingest(
            s,
            [
                result(
                    "MK00000020", 1, ng=[(1, 9, "crack")], stage="final_el", at=T + timedelta(days=4, hours=5), device="edge-1"
                )[0]
            ],
            dev,
        )
    with transaction(sessions) as s:
        # Dispositions carry the server's clock (today): the window runs from the scenario to now.
        d = dashboard(session=s, since=T, until=datetime.now(UTC) + timedelta(days=1))
    assert [r.inspected for r in d.by_day] == [10] * 5
    assert [r.ng for r in d.by_day] == [2, 1, 1, 7, 1]
    assert d.by_day[0].fpy == pytest.approx(0.8) and d.by_day[3].rework_rate == pytest.approx(0.7)
    assert d.pareto == [("crack", 11), ("dark_spot", 1)]
    assert d.field_total.dispositions == 12 and d.field_total.false_calls == 3
    assert d.field_total.false_call_rate == pytest.approx(0.25)
    assert d.field_total.escapes == 1 and d.field_total.escape_rate == pytest.approx(1 / 10)
    (pc,) = d.p_charts
    assert pc.p_bar == pytest.approx(12 / 50)
    assert [p.out_of_control for p in pc.points] == [False, False, False, True, False]
    assert d.loops_per_module == {"0": 38, "1": 12}


def test_import_and_containment_over_http(client: TestClient) -> None:  # noqa: F811
    qe = token(client, "quality_engineer")
    csv_bad = "code,series,cell_format,grid\nP1,HJT,210,2x12\nP2,HJT,210,twelve\n"
    r = client.post("/api/v1/imports/products/csv", content=csv_bad, headers={**qe, "Content-Type": "text/csv"})
    assert r.status_code == 400 and r.json()["error"] == "import_rejected"
    assert r.json()["report"]["errors"][0]["row"] == 2 and r.json()["report"]["imported"] == 0
    r = client.post(
        "/api/v1/imports/products/csv", content=csv_bad.replace("twelve", "2x11"), headers={**qe, "Content-Type": "text/csv"}
    )
    assert r.status_code == 200 and r.json()["imported"] == 2
    r = client.post(
        "/api/v1/imports/work_orders",
        json={"rows": [{"code": "WO-1", "product": "P1", "factory": "F1", "line": "L1"}]},
        headers=qe,
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/imports/module_builds",
        json={"rows": [{"barcode": "M000000000", "work_order": "WO-1", "lots": {"cell": "CL-5"}}]},
        headers=qe,
    )
    assert r.status_code == 200, r.text
    rec = client.get("/api/v1/modules/M000000000", headers=qe).json()
    assert rec["work_order"] == "WO-1" and rec["lots"] == [{"kind": "cell", "code": "CL-5", "supplier": "", "source": "build"}]
    assert rec["product"] == "P1" and rec["series"] == "HJT" and len(rec["inspections"]) == 6
    assert rec["loops"] and rec["loops"][0]["state"] == "open"  # M000000000 string 1 was NG in the fixture
    cs = token(client, "customer_service")
    res = client.post("/api/v1/containment", json={"barcodes": ["M000000000", "UNKNOWN01"]}, headers=cs).json()
    # The fixture's three modules passed STR-EL-01 in the same shift as the suspect.
    assert res["total"] == 3 and res["unknown_barcodes"] == ["UNKNOWN01"]
    assert res["criteria"] == ["suspect", "work order WO-1", "cell lot CL-5", "station STR-EL-01 shift 2026-11-01/A"]
    csv = client.post("/api/v1/containment/csv", json={"lot": "CL-5"}, headers=cs)
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("barcode,status") and len(csv.text.splitlines()) == 2
    assert (
        client.post("/api/v1/containment/hold", json={"query": {"lot": "CL-5"}, "reason": "suspect"}, headers=cs).status_code
        == 403
    )
    held = client.post("/api/v1/containment/hold", json={"query": {"lot": "CL-5"}, "reason": "suspect lot"}, headers=qe).json()
    assert held == {"matched": 1, "held": 1, "not_held": 0}
    hold = client.get("/api/v1/holds", headers=qe).json()[0]
    r = client.post(f"/api/v1/holds/{hold['id']}/decision", json={"decision": "release", "reason": "lot cleared"}, headers=qe)
    assert r.status_code == 200 and r.json()["decision"] == "release"
    assert client.get("/api/v1/modules/M000000000", headers=qe).json()["status"] == "WIP"
    dash = client.get("/api/v1/dashboard?since=2026-10-25T00:00:00Z&until=2026-11-05T00:00:00Z", headers=qe).json()
    assert sum(r["inspected"] for r in dash["by_station"]) == 14


def test_first_pass_yield_counts_the_first_image_of_a_string_not_its_retest(db_url: str) -> None:
    """An NG string repaired and retested OK the same day is a first-pass failure (the retest is not a pass)."""
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        provision_device(session=s, code="edge-1", station_code="STR-EL-01", master_secret=SECRET.encode())
        dev = s.scalar(select(Device.id))
        ingest(s, [result("MF00000001", 1, ng=[(1, 3, "crack")], at=T, device="edge-1")[0]], dev)
        ingest(s, [result("MF00000002", 1, at=T + timedelta(minutes=1), device="edge-1")[0]], dev)
        lid, defect = s.execute(
            select(ReworkLoop.id, CellDefect.id).join(CellDefect, CellDefect.inspection_id == ReworkLoop.ng_inspection_id)
        ).one()
        rw.dispose(session=s, loop_id=lid, item=rw.DispositionInput(defect, "repaired", "RESOLDER"), actor="op", station="RW-1")
    with transaction(sessions) as s:
        ingest(s, [result("MF00000001", 1, at=T + timedelta(minutes=30), device="edge-1")[0]], dev)
        d = dashboard(session=s, since=T, until=T + timedelta(days=1))
    (day,) = d.by_day
    assert (day.inspected, day.first_pass_ok, day.ng) == (2, 1, 1) and day.fpy == pytest.approx(0.5)


def test_station_and_shift_sharing_looks_at_string_el_only(db_url: str) -> None:
    """A suspect also seen at final EL shares its string EL station + shift, not the final EL shift."""
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        for code, st in (("edge-1", "STR-EL-01"), ("edge-9", "FIN-EL-01")):
            provision_device(session=s, code=code, station_code=st, master_secret=SECRET.encode())
        devs = dict(s.execute(select(Device.code, Device.id)).all())
        string_el = [result(b, 1, at=T + timedelta(hours=1), device="edge-1")[0] for b in ("MSH0000001", "MSH0000002")]
        ingest(s, string_el, devs["edge-1"])  # both on shift A at STR-EL-01
        ingest(s, [result("MSH0000003", 1, at=T + timedelta(hours=9), device="edge-1")[0]], devs["edge-1"])  # shift B
        final = [
            result(b, 1, stage="final_el", at=T + timedelta(hours=10), station="FIN-EL-01", device="edge-9")[0]
            for b in ("MSH0000001", "MSH0000003")
        ]
        ingest(s, final, devs["edge-9"])  # final EL, shift B
    with transaction(sessions) as s:
        r = containment(session=s, query=ContainmentQuery(barcodes=["MSH0000001"], share=["station_shift"]), limit=None)
    assert sorted(row.barcode for row in r.items) == ["MSH0000001", "MSH0000002"]
    assert r.criteria == ["suspect", "station STR-EL-01 shift 2026-11-02/A"]


def test_containment_windows_pages_and_csv_at_their_edges(factory: Factory) -> None:
    """A time window is half-open and needs both ends; pages slice the sorted result; the CSV carries every column."""
    for partial in ({"since": T.isoformat()}, {"until": T.isoformat()}, {"station": "STR-EL-01", "since": T.isoformat()}):
        with pytest.raises(InvalidInput, match="needs both since and until"):
            factory.q(**partial)
    upto_a9 = factory.q(since=T.isoformat(), until=(T + timedelta(minutes=9)).isoformat())  # A[9] and C[9] at exactly +9 min
    assert {r.barcode for r in upto_a9.items} == set(A[:9]) | set(C[:9])
    with transaction(factory.sessions) as s:
        page = containment(session=s, query=ContainmentQuery(work_order="WO-A"), offset=3, limit=2)
        full = containment(session=s, query=ContainmentQuery(barcodes=[A[0]], share=["work_order"]), limit=None)
    assert [r.barcode for r in page.items] == A[3:5] and page.total == 10
    lines = list(csv_lines(full))
    assert lines[0][:8] == ["barcode", "status", "grade", "product", "work_order", "customer", "delivery_no", "shipped_at"]
    shipped = next(line for line in lines[1:] if line[0] == A[0])
    assert shipped[3:7] == ["P-HJT-210", "WO-A", "SolarCo", "DN-1"] and shipped[7].startswith("2026-11-10")
