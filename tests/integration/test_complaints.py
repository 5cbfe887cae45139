"""Complaints and the 8D state machine on SQLite and PostgreSQL, with a controllable clock; PPM against hand-computed figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from services.audit.orm import AuditEntry
from services.complaints import eight_d, views
from services.complaints import service as cs
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.time import UTCDateTime, set_clock
from services.events.orm import OutboxEvent
from services.events.schemas import EventType
from services.history.record import module_record
from services.imports.rows import import_rows
from services.inspection.orm import Module
from services.metrics import ppm as metrics
from services.metrics.orm import ShipmentMonth
from tests.support.factories import NO_SHIP_GATE, case_people

pytestmark = pytest.mark.timeout(300)
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DUE = {"D0": 48, "D1": 48, "D2": 48, "D3": 48, "D4": 168, "D5": 336, "D6": 336, "D7": 600, "D8": 720}
FILLED = {
    "D0": {"actions": "stop shipment of lot CL-1", "customer_informed": "J. Doe, phone, 2026-03-02"},
    "D1": {"champion": "plant manager", "leader": "qe1", "members": ["qe1", "process engineer", "cs1"]},
    "D2": {
        "what": "cracks",
        "where": "Site 1",
        "when": "at installation",
        "who": "installer",
        "why": "power loss",
        "how": "EL",
        "how_many": "3 modules",
        "is_is_not": [{"dimension": "lot", "is": "CL-1", "is_not": "CL-2"}],
    },
    "D3": {
        "locations": [
            {"location": loc, "suspect": 10, "checked": 10, "bad": 1, "verified": True}
            for loc in ("customer", "in_transit", "warehouse", "wip", "raw_material")
        ],
        "actions": "hold and re-test",
        "verification": "EL re-test of every suspect",
    },
    "D4": {
        "occurrence_cause": "stringer pressure",
        "occurrence_verification": "DOE",
        "escape_point": "string EL",
        "escape_cause": "threshold too high",
        "escape_verification": "re-run on stored images",
    },
    "D5": {"actions": ["pressure limit", "lower threshold"], "verification": "trial run 500 strings"},
    "D6": {"implementation": "done 2026-03-20", "validation": "4 weeks no crack", "containment_removed": True},
    "D7": {
        "pfmea": "PFMEA rev 7",
        "control_plan": "CP rev 4",
        "work_instructions": "WI-12",
        "lessons_learned": "LL-3",
        "similar_products": "all 210 lines",
    },
    "D8": {"customer_acceptance": "accepted by J. Doe 2026-04-01"},
}


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    s = make_sessionmaker(make_engine(db_url))
    with transaction(s) as session:
        case_people(session)
    set_clock(T0)
    yield s
    set_clock(None)


def _complaint(sessions: sessionmaker[Session], barcodes: list[str], **kw: object) -> tuple[str, str, list[str]]:
    args: dict[str, object] = dict(
        customer="SolarCo",
        received_at=T0 - timedelta(hours=2),
        channel="email",
        symptom="cell_crack",
        severity="major",
        description="cracks seen",
        project="P",
        site="Site 1",
    )
    args.update(kw)
    with transaction(sessions) as s:
        c, unknown = cs.create_complaint(session=s, barcodes=barcodes, actor="cs1", due_hours=DUE, **args)  # type: ignore[arg-type]
        return c.number, views.complaint_read(s, c).case or "", unknown


def _status(sessions: sessionmaker[Session], case: str) -> dict[str, str]:
    with transaction(sessions) as s:
        return {d.code: d.status for d in views.get_case(s, case).disciplines}


def _fill_and_complete(sessions: sessionmaker[Session], case: str, code: str, *, qe: bool = True) -> None:
    with transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code=code, actor="qe1", data=FILLED[code], owner="qe1" if qe else "cs1")
    with transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code=code, actor="qe1" if qe else "cs1", actor_is_quality_engineer=qe)


def test_a_complaint_lists_unknown_barcodes_and_starts_an_8d_with_due_dates(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        s.add(Module(barcode="MKNOWN0001"))
    number, case, unknown = _complaint(sessions, ["MKNOWN0001", "MNEVER0001", "MKNOWN0001"])
    assert number == "C-2026-0001" and case == "8D-2026-0001" and unknown == ["MNEVER0001"]
    with transaction(sessions) as s:
        c = views.get_complaint(s, number)
        read = views.get_case(s, case)
    assert c.barcodes == ["MKNOWN0001", "MNEVER0001"] and c.unknown_barcodes == ["MNEVER0001"]
    with transaction(sessions) as s:  # the module's history shows the complaint and its case
        record = module_record(session=s, barcode="MKNOWN0001")
    assert [(x.number, x.case, x.justified) for x in record.complaints] == [(number, case, None)]
    with transaction(sessions) as s:  # an operator sees that there is one, not who complained or why
        for_operator = module_record(session=s, barcode="MKNOWN0001", complaints_visible=False)
    assert for_operator.complaints == [] and for_operator.complaints_not_shown == 1
    assert {d.code: d.due_at - T0 for d in read.disciplines} == {k: timedelta(hours=h) for k, h in DUE.items()}
    for bad, msg in (
        ({"barcodes": []}, "at least one"),
        ({"channel": "fax"}, "channel"),
        ({"received_at": T0 + timedelta(days=2)}, "future"),
        ({"barcodes": ["not a barcode!"]}, "not barcodes"),
    ):
        with pytest.raises(InvalidInput, match=msg):
            _complaint(sessions, **{"barcodes": ["MKNOWN0001"], **bad})  # type: ignore[arg-type]
    with transaction(sessions) as s:
        assert cs.count_complaints(s) == 1  # refused complaints left nothing behind


def test_required_fields_order_and_owner_block_completion_without_changing_anything(sessions: sessionmaker[Session]) -> None:
    _, case, _ = _complaint(sessions, ["MX00000001"])
    with pytest.raises(InvalidInput, match="Emergency response actions"), transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code="D0", actor="qe1", actor_is_quality_engineer=True)
    with pytest.raises(Conflict, match="complete those first"), transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code="D2", actor="qe1", actor_is_quality_engineer=True)
    with transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D0", actor="qe1", data=FILLED["D0"])
    with pytest.raises(InvalidInput, match="needs an owner"), transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code="D0", actor="qe1", actor_is_quality_engineer=True)
    with pytest.raises(InvalidInput, match="has no field"), transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D0", actor="qe1", data={"colour": "red"})
    bad_d3 = {
        "locations": [{"location": "customer", "suspect": 5, "checked": 3, "bad": 4, "verified": True}],
        "actions": "x",
        "verification": "y",
    }
    with transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D3", actor="qe1", data=bad_d3)
        missing = views.get_case(s, case).disciplines[3].missing
    assert "containment numbers at customer (need 0 <= bad <= checked <= suspect)" in missing and "containment at wip" in missing
    assert set(_status(sessions, case).values()) == {"open"}


def test_an_8d_walks_to_closure_with_approval_and_reopens_on_recurrence(sessions: sessionmaker[Session]) -> None:
    number, case, _ = _complaint(sessions, ["MX00000002"])
    for i, code in enumerate(["D0", "D1", "D2", "D3", "D4", "D5", "D6", "D7"]):
        set_clock(T0 + timedelta(hours=6 * (i + 1)))
        _fill_and_complete(sessions, case, code)
    with transaction(sessions) as s:
        read = views.get_case(s, case)
    assert read.first_response_at == T0 + timedelta(hours=24) and read.status == "open"  # D3 done at +24 h: inside 48 h
    with pytest.raises(cs.Forbidden, match="quality engineer"), transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D8", actor="cs1", data=FILLED["D8"], owner="cs1")
        cs.complete_discipline(session=s, number=case, code="D8", actor="cs1", actor_is_quality_engineer=False)
    assert _status(sessions, case)["D8"] == "open"
    _fill_and_complete(sessions, case, "D8")
    with transaction(sessions) as s:
        read = views.get_case(s, case)
    assert read.status == "closed" and read.disciplines[8].approved_by == "qe1"
    with pytest.raises(Conflict, match="closed"), transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D2", actor="qe1", data={"what": "changed"})
    with pytest.raises(Conflict, match="closed"), transaction(sessions) as s:
        cs.create_complaint(
            session=s,
            customer="X",
            received_at=T0,
            channel="email",
            symptom="other",
            severity="minor",
            description="d",
            barcodes=["MX00000009"],
            actor="cs1",
            due_hours=DUE,
            case_number=case,
        )
    reopened_at = T0 + timedelta(days=40)
    set_clock(reopened_at)
    with transaction(sessions) as s:
        cs.reopen_case(session=s, number=case, reason="cracks again at Site 2", actor="qe1", due_hours=DUE)
    st = _status(sessions, case)
    assert [st[c] for c in ("D0", "D1", "D2", "D3")] == ["completed"] * 4
    assert [st[c] for c in ("D4", "D5", "D6", "D7", "D8")] == ["open"] * 5
    with transaction(sessions) as s:
        read = views.get_case(s, case)
        assert read.reopened_count == 1 and read.status == "open"
        assert read.disciplines[4].due_at == reopened_at + timedelta(hours=168 - 48) and read.disciplines[4].data == FILLED["D4"]
        with pytest.raises(Conflict, match="only a closed case"):
            cs.reopen_case(session=s, number=case, reason="again", actor="qe1", due_hours=DUE)
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.entity == "8d"))]
    assert (
        actions.count("8d.complete") == 9 and actions.count("8d.reopen") == 1 and actions.count("8d.save") == 9
    )  # the refused D8 attempt left no trace
    # The milestones went out as events, in the same transactions (the refused D8 published nothing).
    with transaction(sessions) as s:
        events = s.execute(select(OutboxEvent.type, OutboxEvent.subject, OutboxEvent.data).order_by(OutboxEvent.seq)).all()
        cs.judge(session=s, number=number, justified=True, reason="string EL passed a crack", actor="qe1")
    kinds = [t.removeprefix("com.eltrace.") for t, _, _ in events]
    assert kinds == ["8d.opened", "complaint.received"] + ["8d.discipline.completed"] * 9 + ["8d.closed", "8d.reopened"]
    assert {subject for _, subject, _ in events} == {number, case}
    received = events[1][2]
    assert received["case"] == case and received["barcodes"] == ["MX00000002"] and received["customer"] == "SolarCo"
    assert [d["discipline"] for t, _, d in events if t.endswith("completed")] == [f"D{i}" for i in range(9)]
    with transaction(sessions) as s:
        judged = s.execute(select(OutboxEvent.data).where(OutboxEvent.type == EventType.COMPLAINT_JUDGED)).scalar_one()
    assert judged["justified"] is True and judged["number"] == number


def test_overdue_disciplines_stand_out_with_a_controllable_clock(sessions: sessionmaker[Session]) -> None:
    _, late_case, _ = _complaint(sessions, ["MX00000003"])
    set_clock(T0 + timedelta(hours=1))
    _, fresh_case, _ = _complaint(sessions, ["MX00000004"])
    set_clock(T0 + timedelta(hours=47))
    with transaction(sessions) as s:
        assert views.list_cases(s, overdue_only=True) == []
    set_clock(T0 + timedelta(hours=48, minutes=30))
    with transaction(sessions) as s:
        overdue = views.list_cases(s, overdue_only=True)
        assert [c.number for c in overdue] == [late_case] and overdue[0].overdue == ["D0", "D1", "D2", "D3"]
        assert [c.number for c in views.list_cases(s)][0] == late_case  # overdue first
    for code in ("D0", "D1", "D2", "D3"):
        _fill_and_complete(sessions, late_case, code)
    with transaction(sessions) as s:
        assert views.list_cases(s, overdue_only=True) == [] and views.get_case(s, late_case).overdue == []
    set_clock(T0 + timedelta(hours=49, minutes=30))  # the second case was opened an hour later
    with transaction(sessions) as s:
        assert [c.number for c in views.list_cases(s, overdue_only=True)] == [fresh_case]
    set_clock(T0 + timedelta(days=7, hours=1))
    with transaction(sessions) as s:
        assert views.get_case(s, late_case).overdue == ["D4"]
        assert [c.number for c in views.list_cases(s, owner="qe1")] == [late_case]


def test_one_case_for_several_complaints(sessions: sessionmaker[Session]) -> None:
    _, case, _ = _complaint(sessions, ["MX00000005"])
    n2, case2, _ = _complaint(sessions, ["MX00000006"], case_number=case)
    assert case2 == case
    with transaction(sessions) as s:
        assert views.get_case(s, case).complaints == ["C-2026-0001", n2]
        with pytest.raises(NotFound):
            cs.link_complaint(session=s, number=n2, case_number="8D-2026-9999", actor="cs1")


# ---- PPM ------------------------------------------------------------------------------------------

MARCH, APRIL = datetime(2026, 3, 15, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC)


def _bulk_ship(s: Session, prefix: str, n: int, customer: str, at: datetime, work_order: str) -> None:
    """n modules of a work order, shipped to `customer` at `at` (set-based: the scenario has 500,000)."""
    s.execute(
        text(f"""WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {n})
        INSERT INTO module (barcode, created_at, product_code, work_order_id, status, grade)
        SELECT '{prefix}' || (1000000000 + i), :at, 'P1', (SELECT id FROM work_order WHERE code = :wo), 'SHIPPED', 'A' FROM seq""").bindparams(
            bindparam("at", type_=UTCDateTime)
        ),
        {"at": at, "wo": work_order},
    )
    s.execute(
        text(f"""INSERT INTO shipment (module_id, customer, delivery_no, site, shipped_at, recorded_at)
        SELECT id, :c, 'DN-{prefix}', '', :at, :at FROM module WHERE barcode LIKE '{prefix}%'""").bindparams(
            bindparam("at", type_=UTCDateTime)
        ),
        {"c": customer, "at": at},
    )


@pytest.fixture
def scenario(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """375,000 modules shipped to SolarCo in March, 125,000 to PVFarm in April; complaints with known answers."""
    set_clock(datetime(2026, 6, 1, tzinfo=UTC))
    with transaction(sessions) as s:
        assert import_rows(
            session=s,
            kind="products",
            rows=[{"code": "P1", "series": "HJT 210", "cell_format": "210", "grid": "2x12"}],
            actor="t",
        ).ok
        assert import_rows(
            session=s,
            kind="work_orders",
            actor="t",
            rows=[
                {"code": "WO-1", "product": "P1", "factory": "F1", "line": "L1"},
                {"code": "WO-2", "product": "P1", "factory": "F2", "line": "L9"},
            ],
        ).ok
        _bulk_ship(s, "SA", 375_000, "SolarCo", MARCH, "WO-1")
        _bulk_ship(s, "SB", 125_000, "PVFarm", APRIL, "WO-2")
        s.add(Module(barcode="MNOTSHIPPED"))
        assert metrics.rebuild_rollup(s) == 500_000
    a = [f"SA{1000000000 + i}" for i in (1, 2, 3, 4, 5, 6)]

    def complaint(barcodes: list[str], received: datetime, justified: bool | None) -> None:
        number, _, _ = _complaint(sessions, barcodes, received_at=received)
        if justified is not None:
            with transaction(sessions) as s:
                cs.judge(session=s, number=number, justified=justified, reason="analysis", actor="qe1")

    complaint(a[:3], datetime(2026, 3, 20, tzinfo=UTC), True)  # 3 modules shipped in March, complained in March
    complaint([a[0]], datetime(2026, 3, 25, tzinfo=UTC), True)  # the same module again: distinct modules count once
    complaint(a[3:5], datetime(2026, 3, 26, tzinfo=UTC), False)  # not justified: never counted
    complaint([a[5]], datetime(2026, 4, 10, tzinfo=UTC), True)  # a March module complained in April
    complaint(["MNOTSHIPPED", "MUNKNOWN01"], datetime(2026, 4, 12, tzinfo=UTC), True)  # never shipped / unknown barcode
    complaint([f"SB{1000000000 + 7}"], datetime(2026, 5, 3, tzinfo=UTC), None)  # not judged yet
    return sessions


def _row(report: metrics.PpmReport, month: str, group: str | None = None) -> metrics.PpmRow:
    return next(r for r in report.rows if r.month == month and r.group == group)


def test_ppm_matches_figures_computed_by_hand(scenario: sessionmaker[Session]) -> None:
    with transaction(scenario) as s:
        v1 = metrics.ppm(session=s, first_month="2026-02", last_month="2026-05")
        by_customer = metrics.ppm(session=s, first_month="2026-03", last_month="2026-04", group_by="customer")
        by_factory = metrics.ppm(session=s, first_month="2026-03", last_month="2026-04", group_by="factory")
    assert v1.definition_version == 1 and v1.definition["attribution"] == "complaint_date"
    march, april, may, feb = _row(v1, "2026-03"), _row(v1, "2026-04"), _row(v1, "2026-05"), _row(v1, "2026-02")
    assert (march.complained_modules, march.shipped) == (3, 375_000) and march.ppm == pytest.approx(
        3 / 375_000 * 1e6
    ) == pytest.approx(8.0)
    assert (april.complained_modules, april.shipped) == (1, 125_000) and april.ppm == pytest.approx(8.0)
    assert may.shipped == 0 and may.ppm is None  # no shipments: no figure, not zero
    assert feb.ppm is None and feb.rolling12_ppm is None
    assert april.rolling12_complained == 4 and april.rolling12_shipped == 500_000 and april.rolling12_ppm == pytest.approx(8.0)
    assert may.rolling12_ppm == pytest.approx(4 / 500_000 * 1e6)
    assert v1.excluded_not_shipped == 1 and v1.excluded_unknown == 1
    # By customer: the April complaint is about a SolarCo module; SolarCo shipped nothing in April.
    assert _row(by_customer, "2026-04", "SolarCo").ppm is None and _row(by_customer, "2026-04", "SolarCo").complained_modules == 1
    assert _row(by_customer, "2026-04", "PVFarm").ppm == 0.0
    assert _row(by_customer, "2026-04", "SolarCo").rolling12_ppm == pytest.approx(4 / 375_000 * 1e6)
    assert _row(by_factory, "2026-03", "F1").ppm == pytest.approx(8.0)


def test_a_new_definition_version_changes_the_figures_and_says_so(scenario: sessionmaker[Session]) -> None:
    with transaction(scenario) as s:
        v2 = metrics.new_definition(
            session=s,
            numerator_status="justified",
            denominator_window="same_period",
            attribution="shipment_cohort",
            note="cohort view",
            actor="qe1",
        )
        v3 = metrics.new_definition(
            session=s,
            numerator_status="justified",
            denominator_window="trailing_12_months",
            attribution="complaint_date",
            note="trailing",
            actor="qe1",
        )
        v4 = metrics.new_definition(
            session=s,
            numerator_status="justified_or_open",
            denominator_window="same_period",
            attribution="complaint_date",
            note="early warning",
            actor="qe1",
        )
        cohort = metrics.ppm(session=s, first_month="2026-03", last_month="2026-04", version=v2.version)
        trailing = metrics.ppm(session=s, first_month="2026-03", last_month="2026-04", version=v3.version)
        early = metrics.ppm(session=s, first_month="2026-05", last_month="2026-05", version=v4.version)
        default = metrics.ppm(session=s, first_month="2026-03", last_month="2026-03")
    assert cohort.definition_version == 2
    assert _row(cohort, "2026-03").complained_modules == 4 and _row(cohort, "2026-03").ppm == pytest.approx(4 / 375_000 * 1e6)
    assert _row(cohort, "2026-04").ppm == 0.0
    assert _row(trailing, "2026-04").shipped == 500_000 and _row(trailing, "2026-04").ppm == pytest.approx(1 / 500_000 * 1e6)
    assert _row(early, "2026-05").complained_modules == 1  # the not-yet-judged complaint counts under v4 only
    assert default.definition_version == 4  # the newest definition is the default


def test_the_rollup_stays_equal_to_a_recount_of_shipments(scenario: sessionmaker[Session]) -> None:
    with transaction(scenario) as s:
        assert import_rows(
            session=s, kind="module_builds", actor="t", rows=[{"barcode": f"MN{i:08d}", "work_order": "WO-2"} for i in range(5)]
        ).ok
        assert import_rows(
            session=s,
            kind="shipments",
            actor="erp",
            gate_checks=NO_SHIP_GATE,
            rows=[
                {"barcode": f"MN{i:08d}", "customer": "PVFarm", "delivery_no": "DN-9", "shipped_at": "2026-05-02T00:00:00Z"}
                for i in range(5)
            ],
        ).ok
        incremental = sorted(
            s.execute(select(ShipmentMonth.month, ShipmentMonth.customer, ShipmentMonth.factory, ShipmentMonth.shipped)).all()
        )
        metrics.rebuild_rollup(s)
        recount = sorted(
            s.execute(select(ShipmentMonth.month, ShipmentMonth.customer, ShipmentMonth.factory, ShipmentMonth.shipped)).all()
        )
        total = s.scalar(select(func.sum(ShipmentMonth.shipped)))
    assert incremental == recount and total == 500_005
    assert ("2026-05", "PVFarm", "F2", 5) in recount


def test_month_arithmetic_and_validation() -> None:
    assert metrics.months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        metrics.ppm(session=None, first_month="2026-13", last_month="2026-14")  # type: ignore[arg-type]


def test_the_order_rule_names_the_discipline_just_before(sessions: sessionmaker[Session]) -> None:
    """With D0 done and D1 open, D2 is refused because of D1 (mutation: the slice one short)."""
    _, case, _ = _complaint(sessions, ["MX00000040"])
    _fill_and_complete(sessions, case, "D0")
    with transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D2", actor="qe1", data=FILLED["D2"], owner="qe1")
    with pytest.raises(Conflict, match="comes after D1:"), transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code="D2", actor="qe1", actor_is_quality_engineer=True)
    assert _status(sessions, case)["D2"] == "open"


def test_a_completed_discipline_is_frozen_while_the_case_is_open(sessions: sessionmaker[Session]) -> None:
    _, case, _ = _complaint(sessions, ["MX00000041"])
    _fill_and_complete(sessions, case, "D0")
    with pytest.raises(Conflict, match="D0 is completed"), transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D0", actor="qe1", data={"actions": "changed afterwards"})
    with transaction(sessions) as s:
        assert views.get_case(s, case).disciplines[0].data["actions"] == FILLED["D0"]["actions"]


def test_containment_must_be_verified_at_every_location_and_removed_at_d6() -> None:
    """D3 cannot close on unverified containment; D6 cannot close while the interim containment stays."""
    d3 = {**FILLED["D3"], "locations": [dict(r) for r in FILLED["D3"]["locations"]]}  # type: ignore[union-attr]
    assert eight_d.missing_fields("D3", d3) == []
    d3["locations"][3]["verified"] = False  # type: ignore[index]
    assert eight_d.missing_fields("D3", d3) == ["containment at wip verified"]
    assert eight_d.missing_fields("D6", FILLED["D6"]) == []
    assert eight_d.missing_fields("D6", {**FILLED["D6"], "containment_removed": False}) == ["Interim containment removed"]


def test_a_one_month_report_still_looks_back_twelve_months(scenario: sessionmaker[Session]) -> None:
    """Rolling-12 figures of a May-only report count March and April (mutation: the look-back cut to May)."""
    with transaction(scenario) as s:
        may = _row(metrics.ppm(session=s, first_month="2026-05", last_month="2026-05"), "2026-05")
    assert (may.rolling12_complained, may.rolling12_shipped) == (4, 500_000)
    assert may.rolling12_ppm == pytest.approx(8.0) and may.shipped == 0 and may.ppm is None
