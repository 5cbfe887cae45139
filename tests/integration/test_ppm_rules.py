"""PPM and 8D response figures without the 500,000-module scenario: month arithmetic, inputs, definitions, response times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.complaints import service as cs
from services.complaints.orm import Complaint, Discipline, EightDCase
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.errors import InvalidInput
from services.core.time import set_clock
from services.metrics import ppm as metrics
from tests.support.factories import NO_SHIP_GATE

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
DUE = {"D0": 48, "D1": 48, "D2": 48, "D3": 48, "D4": 168, "D5": 336, "D6": 336, "D7": 600, "D8": 720}


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    set_clock(NOW)
    yield make_sessionmaker(make_engine(sqlite_url))
    set_clock(None)


def test_month_arithmetic_across_years() -> None:
    assert metrics.shift_month("2026-01", -1) == "2025-12" and metrics.shift_month("2026-12", 1) == "2027-01"
    assert metrics.shift_month("2026-05", -11) == "2025-06" and metrics.shift_month("2026-05", 12) == "2027-05"
    assert metrics.months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_report_months_are_checked(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        for first, last in (("2026-01", "2026-12"), ("2017-01", "2026-12")):  # one month of each end; 120 months
            metrics.ppm(session=s, first_month=first, last_month=last)
        for first, last in (
            ("2026-00", "2026-01"),
            ("2026-01", "2026-13"),
            ("2026-1", "2026-02"),
            ("2026/01", "2026-02"),
            ("2026-03", "2026-02"),
            ("2016-12", "2026-12"),
            ("2026-x1", "2026-02"),  # a letter in the month: refused as input, not a crash
        ):
            with pytest.raises(InvalidInput):
                metrics.ppm(session=s, first_month=first, last_month=last)


def test_a_definition_needs_three_known_terms_and_versions_count_up(sessions: sessionmaker[Session]) -> None:
    good = {"numerator_status": "justified", "denominator_window": "same_period", "attribution": "complaint_date"}
    with transaction(sessions) as s:
        for key in good:
            with pytest.raises(InvalidInput):
                metrics.new_definition(session=s, **{**good, key: "other"}, note="x", actor="qe")  # type: ignore[arg-type]
        v = metrics.active_definition(s).version
        d = metrics.new_definition(session=s, **good, note="n" * 600, actor="qe")
        assert d.version == v + 1 and len(d.note) == 500
        assert metrics.active_definition(s).version == v + 1 and metrics.active_definition(s, v).version == v


def test_response_and_closure_against_their_targets(sessions: sessionmaker[Session]) -> None:
    """Three cases: answered in exactly 48 h and closed in exactly 30 days; answered in 49 h; one still open and late."""
    with transaction(sessions) as s:
        numbers = []
        for k, received in enumerate(
            (datetime(2026, 4, 2, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC), datetime(2026, 5, 3, tzinfo=UTC))
        ):
            c, _ = cs.create_complaint(
                session=s,
                customer="SolarCo",
                project="",
                site="",
                received_at=received,
                channel="email",
                symptom="cell_crack",
                severity="major",
                description="d",
                barcodes=[f"MR{k:08d}"],
                actor="cs1",
                due_hours=DUE,
            )
            numbers.append(c.number)
        s.flush()
        cases = {c.number: c for c in s.scalars(select(Complaint))}
        case = {n: s.get(EightDCase, cases[n].case_id) for n in numbers}
        one, two, three = (case[n] for n in numbers)
        cases[numbers[0]].justified = True
        one.opened_at, one.first_response_at, one.closed_at = (
            NOW - timedelta(days=40),
            NOW - timedelta(days=40, hours=-48),
            NOW - timedelta(days=10),
        )
        two.opened_at, two.first_response_at = NOW - timedelta(days=20), NOW - timedelta(days=20, hours=-49)
        for d in s.scalars(select(Discipline).where(Discipline.case_id == one.id)):
            d.status = "completed"
        for d in s.scalars(select(Discipline).where(Discipline.case_id == two.id)):
            d.due_at = NOW if d.code == "D4" else NOW + timedelta(days=1)  # due exactly now: not late yet
        for d in s.scalars(select(Discipline).where(Discipline.case_id == three.id)):
            d.due_at = NOW - timedelta(seconds=1) if d.code == "D0" else NOW + timedelta(days=1)
    with transaction(sessions) as s:
        r = metrics.response_stats(session=s, first_month="2026-04", last_month="2026-06", first_response_h=48, closure_h=720)
    assert r.complaints_by_month == {"2026-04": 2, "2026-05": 1, "2026-06": 0}
    assert r.justified_by_month == {"2026-04": 1, "2026-05": 0, "2026-06": 0}
    assert r.cases == 3 and r.first_response_hours_median == pytest.approx(49.0)  # of [48, 49]: the upper middle
    assert r.first_response_within_target == pytest.approx(0.5)  # 48 h is within a 48 h target, 49 h is not
    assert r.closure_days_median == pytest.approx(30.0) and r.closure_within_target == pytest.approx(1.0)
    assert r.open_overdue == 1 and (r.first_response_target_h, r.closure_target_days) == (48, 30)
    with transaction(sessions) as s:
        only_may = metrics.response_stats(
            session=s, first_month="2026-05", last_month="2026-05", first_response_h=48, closure_h=720
        )
    assert only_may.complaints_by_month == {"2026-05": 1} and only_may.cases == 1 and only_may.first_response_hours_median is None


def _ship(s: Session, rows: list[tuple[str, str, str]]) -> None:
    """One shipment import (barcode, customer, ISO date): the roll-up is counted incrementally."""
    from services.imports.rows import import_rows

    assert import_rows(
        session=s,
        kind="shipments",
        actor="erp",
        gate_checks=NO_SHIP_GATE,
        rows=[{"barcode": b, "customer": c, "delivery_no": f"DN-{b}", "shipped_at": f"{d}T08:00:00Z"} for b, c, d in rows],
    ).ok


def test_ppm_at_its_edges_windows_customers_products_and_two_import_batches(sessions: sessionmaker[Session]) -> None:
    """A small line where every figure is known: shipments and complaints exactly on the first and just outside
    the last month of the rolling window, two customers, two product series plus a module of no product, the
    roll-up fed by two imports that hit the same month x customer x product x factory."""
    from services.imports.rows import import_rows
    from services.inspection.orm import Module

    def complaint(s: Session, barcode: str, customer: str, received: str, justified: bool | None) -> None:
        c, _ = cs.create_complaint(
            session=s,
            customer=customer,
            project="",
            site="",
            received_at=datetime.fromisoformat(f"{received}T09:00:00+00:00"),
            channel="email",
            symptom="cell_crack",
            severity="major",
            description="d",
            barcodes=[barcode],
            actor="cs1",
            due_hours=DUE,
        )
        if justified is not None:
            cs.judge(session=s, number=c.number, justified=justified, reason="analysis", actor="qe1")

    with transaction(sessions) as s:
        assert metrics.rebuild_rollup(s) == 0  # nothing shipped yet: zero, not one
        assert import_rows(
            session=s,
            kind="products",
            actor="t",
            rows=[
                {"code": "P1", "series": "HJT 210", "cell_format": "210", "grid": "2x12"},
                {"code": "P2", "series": "TOPCon 182", "cell_format": "182", "grid": "2x12"},
            ],
        ).ok
        assert import_rows(
            session=s,
            kind="work_orders",
            actor="t",
            rows=[
                {"code": "WO-A", "product": "P1", "factory": "F1", "line": "L1"},
                {"code": "WO-B", "product": "P2", "factory": "F2", "line": "L2"},
            ],
        ).ok
        builds = [{"barcode": f"MA0000000{i}", "work_order": "WO-A"} for i in range(1, 7)]
        builds += [{"barcode": f"MB0000000{i}", "work_order": "WO-B"} for i in range(1, 3)]
        assert import_rows(session=s, kind="module_builds", actor="t", rows=builds).ok
        s.add(Module(barcode="MN00000001"))  # known from an EL image only: no product, no factory
        s.flush()
        _ship(
            s,
            [
                ("MA00000001", "SolarCo", "2025-06-05"),  # the first month of May 2026's rolling window
                ("MA00000002", "SolarCo", "2025-06-28"),
                ("MA00000003", "SolarCo", "2025-05-20"),  # one month before it: outside
                ("MA00000006", "SolarCo", "2026-05-02"),
                ("MB00000001", "PVFarm", "2026-05-03"),
                ("MB00000002", "PVFarm", "2026-05-03"),
                ("MN00000001", "PVFarm", "2026-05-04"),
            ],
        )
        _ship(s, [("MA00000004", "SolarCo", "2026-05-10"), ("MA00000005", "SolarCo", "2026-05-11")])  # same roll-up key again
        complaint(s, "MA00000001", "SolarCo", "2025-06-20", True)  # in the window's first month
        complaint(s, "MA00000003", "SolarCo", "2025-05-25", True)  # outside the window
        complaint(s, "MB00000001", "PVFarm", "2026-05-15", True)
        complaint(s, "MA00000004", "SolarCo", "2026-05-20", None)  # not judged yet
        complaint(s, "MN00000001", "PVFarm", "2026-05-21", True)

    with transaction(sessions) as s:
        total = metrics.ppm(session=s, first_month="2026-05", last_month="2026-05")
        by_product = metrics.ppm(session=s, first_month="2026-05", last_month="2026-05", group_by="product")
        pvfarm = metrics.ppm(session=s, first_month="2026-05", last_month="2026-05", customer="PVFarm")
        early = metrics.new_definition(
            session=s,
            numerator_status="justified_or_open",
            denominator_window="same_period",
            attribution="complaint_date",
            note="early warning",
            actor="qe1",
        )
        with_open = metrics.ppm(session=s, first_month="2026-05", last_month="2026-05", version=early.version)
    (may,) = total.rows
    assert (may.complained_modules, may.shipped) == (2, 6)  # MB1 and MN1; shipped A4 A5 A6 B1 B2 N1
    assert (may.rolling12_complained, may.rolling12_shipped) == (3, 8)  # + A1 (June 2025); A3 stays outside
    assert [(r.group, r.complained_modules, r.shipped, r.rolling12_shipped) for r in by_product.rows] == [
        ("?", 1, 1, 1),
        ("HJT 210", 0, 3, 5),
        ("TOPCon 182", 1, 2, 2),
    ]
    assert [(r.complained_modules, r.shipped, r.rolling12_shipped) for r in pvfarm.rows] == [(2, 3, 3)]  # SolarCo: 3, 5
    assert [(r.complained_modules, r.shipped) for r in with_open.rows] == [(3, 6)]  # the open complaint counts here only
