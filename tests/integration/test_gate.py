"""The MES gate: every BLOCK reason and PASS, per operation, on SQLite and PostgreSQL; each BLOCK recorded and published."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.core.db import make_engine, make_sessionmaker, transaction
from services.devices.service import provision_device
from services.events.orm import OutboxEvent
from services.events.schemas import EventType
from services.gate.orm import GateBlock
from services.gate.schemas import Check, Decision, Operation
from services.gate.service import ask
from services.imports.rows import import_rows
from services.inspection.orm import Module
from services.migrations.runner import upgrade
from services.rework.service import place_hold
from services.traceability.orm import Product
from tests.conftest import SECRET
from tests.support.factories import ingest, later, result


def _module(s: Session, barcode: str) -> Module:
    return s.scalars(select(Module).where(Module.barcode == barcode)).one()


@pytest.fixture
def line(db_url: str) -> Session:
    """Modules in every state the gate must tell apart (product P2 has 2 strings)."""
    upgrade(db_url)
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        provision_device(session=s, code="edge-t1", station_code="STR-EL-01", master_secret=SECRET.encode())
        dev = s.execute(text("select id from device where code='edge-t1'")).scalar_one()
        s.add(Product(code="P2", series="S", cell_format="182 half-cut", grid_rows=1, grid_cols=12, strings=2))
        envs = [
            result("GOOD", 1)[0],
            result("GOOD", 2)[0],
            result("MISSING", 1)[0],
            result("REWORK", 1, ng=[(1, 3, "crack")])[0],
            result("REWORK", 2)[0],
            result("DOUBT", 1)[0],
            result("DOUBT", 2, review=[(1, 4, "crack")])[0],
            result("UNREAD", 1)[0],
            result("UNREAD", 2, error=True)[0],
            result("HELD", 1)[0],
            result("HELD", 2)[0],
            result("SCRAP", 1)[0],
            result("SCRAP", 2)[0],
            result("LATE", 1)[0],
            result("LATE", 2)[0],
            result("LATE", 1, stage="final_el", ng=[(1, 5, "crack")], at=later(90), station="FIN-EL-01")[0],
        ]
        ingest(s, envs, dev)
        for bc in ("GOOD", "MISSING", "REWORK", "DOUBT", "UNREAD", "HELD", "SCRAP", "LATE"):
            _module(s, bc).product_code = "P2"
        place_hold(session=s, module_ids=[_module(s, "HELD").id], source="manual", reason="suspect EVA lot", actor="qe")
        _module(s, "SCRAP").status = "SCRAPPED"
    session = sessions()
    yield session
    session.close()


CASES = [
    ("GOOD", Operation.LAYUP, []),
    ("GOOD", Operation.SHIPPING, []),
    ("NOPE", Operation.LAYUP, [Check.UNKNOWN_MODULE]),
    ("MISSING", Operation.LAYUP, [Check.STRING_EL_MISSING]),
    ("REWORK", Operation.LAMINATION, [Check.OPEN_REWORK]),
    ("DOUBT", Operation.LAYUP, [Check.REVIEW_PENDING]),
    ("UNREAD", Operation.LAYUP, [Check.ERROR_NOT_REIMAGED]),
    ("HELD", Operation.PACKING, [Check.HOLD]),
    ("SCRAP", Operation.LAYUP, [Check.SCRAPPED]),
    ("LATE", Operation.PACKING, [Check.LATER_STAGE_NG]),
    ("LATE", Operation.LAYUP, []),  # a later-stage NG is not a layup question (configuration)
]


@pytest.mark.parametrize(("barcode", "operation", "want"), CASES, ids=[f"{b}-{o.value}" for b, o, _ in CASES])
def test_every_block_reason_and_pass(line: Session, barcode: str, operation: Operation, want: list[Check]) -> None:
    answer = ask(session=line, barcode=barcode, operation=operation, asked_by="mes:t")
    assert [r.check for r in answer.reasons] == want
    assert answer.decision is (Decision.BLOCK if want else Decision.PASS)
    assert all(r.action and r.detail for r in answer.reasons)


def test_every_block_is_recorded_and_published_in_the_callers_transaction(line: Session) -> None:
    before = line.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == EventType.GATE_BLOCKED))
    ask(session=line, barcode="REWORK", operation=Operation.SHIPPING, asked_by="mes:t")
    ask(session=line, barcode="GOOD", operation=Operation.SHIPPING, asked_by="mes:t")  # a PASS records nothing
    line.flush()
    blocks = line.scalars(select(GateBlock)).all()
    assert [(b.barcode, b.operation) for b in blocks] == [("REWORK", "shipping")]
    assert blocks[0].reasons[0]["check"] == "open_rework"
    after = line.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == EventType.GATE_BLOCKED))
    assert after == before + 1
    line.rollback()  # nothing written outside the caller's transaction
    assert line.scalar(select(func.count()).select_from(GateBlock)) == 0


def test_checks_per_operation_come_from_configuration(line: Session) -> None:
    config = {"layup": ["hold"]}
    assert ask(session=line, barcode="REWORK", operation=Operation.LAYUP, asked_by="t", config=config).decision is Decision.PASS
    assert (
        ask(session=line, barcode="REWORK", operation=Operation.FRAMING, asked_by="t", config=config).decision is Decision.BLOCK
    )


def _ships(*barcodes: str, delivery: str = "DN-9") -> list[dict[str, str]]:
    return [
        {"barcode": b, "customer": "SolarCo", "delivery_no": delivery, "shipped_at": "2026-11-20T08:00:00Z"} for b in barcodes
    ]


def _shipped(s: Session) -> list[str]:
    return sorted(s.scalars(select(Module.barcode).where(Module.status == "SHIPPED")))


def test_the_shipments_import_refuses_a_module_the_gate_blocks_and_imports_nothing(line: Session) -> None:
    report = import_rows(session=line, kind="shipments", rows=_ships("GOOD", "REWORK", "DOUBT"), actor="erp")
    assert not report.ok and report.imported == 0
    by_row = {e.row: e.message for e in report.errors}
    assert sorted(by_row) == [2, 3]
    assert "REWORK may not ship: rework loop open on string(s) 1" in by_row[2] and "finish the rework loop" in by_row[2]
    assert "wait for EL review" in by_row[3]
    line.flush()
    assert _shipped(line) == []  # all or none: GOOD did not ship either
    assert line.scalar(select(func.count()).select_from(GateBlock)) == 0  # a refused import changes nothing


def test_the_shipments_import_in_flag_mode_ships_records_and_publishes_each_flag(line: Session) -> None:
    report = import_rows(
        session=line, kind="shipments", rows=_ships("GOOD", "REWORK", "LATE"), actor="erp", ship_unreleased="flag"
    )
    assert report.ok and report.imported == 3
    assert [(f.row, f.message.split(":")[0]) for f in report.flagged] == [
        (2, "module REWORK shipped unreleased"),
        (3, "module LATE shipped unreleased"),
    ]
    line.flush()
    assert _shipped(line) == ["GOOD", "LATE", "REWORK"]
    blocks = line.scalars(select(GateBlock).order_by(GateBlock.id)).all()
    assert [(b.barcode, b.operation, b.asked_by) for b in blocks] == [("REWORK", "shipping", "erp"), ("LATE", "shipping", "erp")]
    flagged = line.scalars(select(OutboxEvent).where(OutboxEvent.type == EventType.SHIPMENT_FLAGGED)).all()
    assert sorted(e.subject for e in flagged) == ["LATE", "REWORK"]
    assert {e.data["delivery_no"] for e in flagged} == {"DN-9"}
    # Re-importing the same delivery file changes nothing and is not refused: those modules have shipped.
    again = import_rows(session=line, kind="shipments", rows=_ships("GOOD", "REWORK", "LATE"), actor="erp")
    assert again.ok and again.unchanged == 3 and again.flagged == []


def test_a_hold_refuses_the_shipment_in_either_mode(line: Session) -> None:
    for mode in ("refuse", "flag"):
        report = import_rows(session=line, kind="shipments", rows=_ships("HELD"), actor="erp", ship_unreleased=mode)  # type: ignore[arg-type]
        assert not report.ok and "is HOLD" in report.errors[0].message and report.flagged == []


def test_the_shipments_import_follows_the_gate_configuration(line: Session) -> None:
    config = {"shipping": ["hold", "scrapped"]}  # this plant ships open loops (not advised): the gate says PASS
    report = import_rows(session=line, kind="shipments", rows=_ships("REWORK"), actor="erp", gate_checks=config)
    assert report.ok and report.imported == 1 and report.flagged == []
