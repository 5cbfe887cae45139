"""The complaint service's input rules at their edges: barcodes, dates, attachments, judgements, links, due dates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.audit.orm import AuditEntry
from services.complaints import service as cs
from services.complaints import views
from services.complaints.orm import Discipline, EightDCase
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.time import set_clock
from services.imagestore.store import DirectoryBlobStore
from services.inspection.orm import Module
from tests.support.factories import NO_SHIP_GATE, case_people

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DUE = {"D0": 48, "D1": 48, "D2": 48, "D3": 48, "D4": 168, "D5": 336, "D6": 336, "D7": 600, "D8": 720}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        case_people(s)
    set_clock(NOW)
    yield sessions
    set_clock(None)


def _create(sessions: sessionmaker[Session], barcodes: list[str], **kw: object) -> tuple[str, str, list[str]]:
    args: dict[str, object] = dict(
        customer="SolarCo",
        received_at=NOW,
        channel="email",
        symptom="cell_crack",
        severity="major",
        description="cracks",
        project="",
        site="",
    )
    args.update(kw)
    with transaction(sessions) as s:
        c, unknown = cs.create_complaint(session=s, barcodes=barcodes, actor="cs1", due_hours=DUE, **args)  # type: ignore[arg-type]
        return c.number, views.complaint_read(s, c).case or "", unknown


def test_barcodes_pasted_from_an_export_are_parsed_once_each() -> None:
    text = 'barcode\n"MA00000001", MA00000002;MA00000001  Serial MODULE\n\n'
    assert cs.parse_barcodes(text) == ["MA00000001", "MA00000002"]


def test_required_text_dates_and_the_barcode_list(sessions: sessionmaker[Session]) -> None:
    for kw, msg in (({"customer": " "}, "customer and description"), ({"description": " "}, "customer and description")):
        with pytest.raises(InvalidInput, match=msg):
            _create(sessions, ["MB00000001"], **kw)
    _create(sessions, ["MB00000001"], received_at=NOW + timedelta(minutes=5))  # a clock a little ahead: fine
    _create(sessions, ["MB00000001"], received_at=NOW)
    with pytest.raises(InvalidInput, match="in the future"):
        _create(sessions, ["MB00000001"], received_at=NOW + timedelta(minutes=5, seconds=1))
    _, _, unknown = _create(sessions, [f"MC{i:08d}" for i in range(cs.MAX_BARCODES)])
    assert len(unknown) == 5000 == cs.MAX_BARCODES
    with pytest.raises(InvalidInput, match="more than 5000"):
        _create(sessions, [f"MC{i:08d}" for i in range(5001)])
    bad = [f"bad code {i}" for i in range(12)]
    with pytest.raises(InvalidInput) as exc:
        _create(sessions, bad)
    assert "bad code 9" in exc.value.detail and "bad code 10" not in exc.value.detail  # the first ten are named
    with pytest.raises(NotFound, match="no 8D case"):
        _create(sessions, ["MB00000001"], case_number="8D-2026-9999")


def test_the_audit_names_at_most_fifty_unknown_barcodes_and_titles_are_capped(sessions: sessionmaker[Session]) -> None:
    number, case, unknown = _create(sessions, [f"MD{i:08d}" for i in range(60)], customer="C" * 250)
    with transaction(sessions) as s:
        after = s.scalars(select(AuditEntry.after).where(AuditEntry.action == "complaint.create")).one()
        title = s.scalar(select(EightDCase.title).where(EightDCase.number == case))
    assert len(unknown) == 60 and len(after["unknown"]) == 50
    assert title is not None and len(title) == 200


def test_attachments_size_type_and_name(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    number, _, _ = _create(sessions, ["ME00000001"])
    blobs = DirectoryBlobStore(tmp_path / "blobs")

    def attach(data: bytes, name: str = "photo.png") -> str:
        with transaction(sessions) as s:
            return cs.add_attachment(session=s, blobs=blobs, number=number, filename=name, data=data, actor="cs1").filename

    assert attach(PNG + b"\0" * (cs.MAX_ATTACHMENT_BYTES - len(PNG))) == "photo.png"  # exactly 10 MiB
    assert cs.MAX_ATTACHMENT_BYTES == 10 * 1024 * 1024
    with pytest.raises(InvalidInput, match="over 10 MiB"):
        attach(PNG + b"\0" * (cs.MAX_ATTACHMENT_BYTES - len(PNG) + 1))
    with pytest.raises(InvalidInput, match="empty"):
        attach(b"")
    with pytest.raises(InvalidInput, match="PNG, JPEG, TIFF, BMP images or PDF"):
        attach(b"GIF89a" + b"\0" * 20)
    assert attach(b"%PDF-1.7\n%%EOF", "report.pdf") == "report.pdf"
    assert attach(PNG, "../../etc/pass wd") == ".._.._etc_pass wd"  # no path leaves the name
    assert attach(PNG, "") == "attachment"
    assert attach(PNG, "n" * 250) == "n" * 200
    with pytest.raises(NotFound, match="no complaint"), transaction(sessions) as s:
        cs.add_attachment(session=s, blobs=blobs, number="C-2026-9999", filename="x.png", data=PNG, actor="cs1")


def test_judgement_and_links_between_cases(sessions: sessionmaker[Session]) -> None:
    first, case1, _ = _create(sessions, ["MF00000001"])
    second, case2, _ = _create(sessions, ["MF00000002"])
    with pytest.raises(InvalidInput, match="needs a reason"), transaction(sessions) as s:
        cs.judge(session=s, number=first, justified=True, reason="  ", actor="qe1")
    with transaction(sessions) as s:
        cs.judge(session=s, number=first, justified=True, reason="crack from the stringer", actor="qe1")
        assert views.get_complaint(s, first).justified is True
    with transaction(sessions) as s:
        cs.link_complaint(session=s, number=second, case_number=case1, actor="cs1")
        assert views.get_complaint(s, second).case == case1
    with transaction(sessions) as s:
        s.execute(EightDCase.__table__.update().where(EightDCase.number == case2).values(status="closed"))
    with pytest.raises(Conflict, match="closed"), transaction(sessions) as s:
        cs.link_complaint(session=s, number=first, case_number=case2, actor="cs1")
    with pytest.raises(Conflict, match="reopen it first"):
        _create(sessions, ["MF00000003"], case_number=case2)


def test_first_response_is_stamped_by_d3_only_and_d8_needs_a_quality_engineer(sessions: sessionmaker[Session]) -> None:
    _, case, _ = _create(sessions, ["MG00000001"])
    with transaction(sessions) as s:
        cs.save_discipline(
            session=s, number=case, code="D0", actor="qe1", owner="qe1", data={"actions": "stop", "customer_informed": "phone"}
        )
    with transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code="D0", actor="qe1", actor_is_quality_engineer=True)
    with transaction(sessions) as s:
        assert views.get_case(s, case).first_response_at is None  # D0 is not the first response
    with transaction(sessions) as s:
        for d in s.scalars(select(Discipline).join(EightDCase).where(EightDCase.number == case)):
            if d.code != "D8":
                d.status = "completed"
        d8 = s.scalars(select(Discipline).join(EightDCase).where(EightDCase.number == case, Discipline.code == "D8")).one()
        d8.data, d8.owner = {"customer_acceptance": "accepted"}, "cs1"
    with pytest.raises(cs.Forbidden) as exc, transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code="D8", actor="cs1", actor_is_quality_engineer=False)
    assert exc.value.status == 403 and exc.value.code == "forbidden"


def test_a_discipline_due_exactly_now_is_not_overdue_yet(sessions: sessionmaker[Session]) -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)  # far from the service clock: overdue() must use the time it is given
    ds = [
        Discipline(code="D3", status="open", due_at=at),
        Discipline(code="D4", status="open", due_at=at - timedelta(microseconds=1)),
        Discipline(code="D5", status="completed", due_at=at - timedelta(days=9)),
    ]
    assert cs.overdue(ds, at) == ["D4"]
    with transaction(sessions) as s:
        assert s.scalar(select(Module.id)) is None  # the rule needs no data


def test_dates_are_plausible_and_only_a_quality_engineer_moves_a_due_date(sessions: sessionmaker[Session]) -> None:
    from services.core.errors import Forbidden

    with pytest.raises(InvalidInput, match="ten years ago"):
        _create(sessions, ["MP00000001"], received_at=NOW - timedelta(days=3700))
    _, case, _ = _create(sessions, ["MP00000002"])
    later = NOW + timedelta(days=10)
    with pytest.raises(Forbidden, match="only a quality engineer"), transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D4", actor="cs1", due_at=later)  # late? move the date
    for bad in (NOW - timedelta(days=1), NOW + timedelta(days=400)):
        with pytest.raises(InvalidInput, match="between the case's opening and one year"), transaction(sessions) as s:
            cs.save_discipline(session=s, number=case, code="D4", actor="qe1", due_at=bad, may_move_due_dates=True)
    with transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D4", actor="qe1", due_at=later, may_move_due_dates=True)
        d4 = s.scalars(select(Discipline).join(EightDCase).where(EightDCase.number == case, Discipline.code == "D4")).one()
        assert d4.due_at == later
    with transaction(sessions) as s:  # saving other fields with the date unchanged is fine for anyone
        cs.save_discipline(session=s, number=case, code="D4", actor="cs1", owner="cs1", due_at=later)


def test_a_shipment_dated_in_the_future_or_before_2000_is_a_row_error(sessions: sessionmaker[Session]) -> None:
    from services.imports.rows import import_rows

    with transaction(sessions) as s:
        s.add(Module(barcode="MP00000009"))
    for when in ("2099-01-01T00:00:00Z", "1999-12-31T23:00:00Z"):
        with transaction(sessions) as s:
            res = import_rows(
                session=s,
                kind="shipments",
                actor="erp",
                gate_checks=NO_SHIP_GATE,
                rows=[{"barcode": "MP00000009", "customer": "SolarCo", "delivery_no": "DN-1", "shipped_at": when}],
            )
        assert not res.ok and "implausible" in res.errors[0].message, when


def test_an_owner_is_a_person_of_the_complaint_team_and_completes_their_own_discipline(sessions: sessionmaker[Session]) -> None:
    from services.security.service import create_user

    _, case, _ = _create(sessions, ["MH00000001"])
    with transaction(sessions) as s:
        create_user(session=s, username="op1", password="case-people-password-1", role="operator")
    d0 = {"actions": "stop", "customer_informed": "phone"}
    for nobody in ("op1", "ghost", "qe"):  # an operator, no such account, a typo
        with pytest.raises(InvalidInput, match="cannot own D0"), transaction(sessions) as s:
            cs.save_discipline(session=s, number=case, code="D0", actor="qe1", owner=nobody, data=d0)
    with transaction(sessions) as s:
        assert views.get_case(s, case).disciplines[0].owner is None  # nothing of a refused save stays
        cs.save_discipline(session=s, number=case, code="D0", actor="cs1", owner="qe1", data=d0)
    # Customer service does not complete what a quality engineer owns ...
    with pytest.raises(cs.Forbidden, match="owned by qe1"), transaction(sessions) as s:
        cs.complete_discipline(session=s, number=case, code="D0", actor="cs1", actor_is_quality_engineer=False)
    # ... their own they do, and a quality engineer completes anyone's.
    with transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D0", actor="cs1", owner="cs1")
        cs.complete_discipline(session=s, number=case, code="D0", actor="cs1", actor_is_quality_engineer=False)
    with transaction(sessions) as s:
        cs.save_discipline(session=s, number=case, code="D1", actor="cs1", owner="cs1", data=FILLED_D1)
        cs.complete_discipline(session=s, number=case, code="D1", actor="qe1", actor_is_quality_engineer=True)
    with transaction(sessions) as s:
        assert [d.status for d in views.get_case(s, case).disciplines[:2]] == ["completed", "completed"]
    with transaction(sessions) as s:  # a disabled account owns nothing new
        from services.security.service import set_active

        set_active(session=s, username="op1", active=False)
        assert ("op1", "operator") not in cs_owners(s)
        assert ("cs1", "customer_service") in cs_owners(s) and ("qe1", "quality_engineer") in cs_owners(s)


FILLED_D1 = {"champion": "plant manager", "leader": "cs1", "members": ["cs1", "qe1"]}


def cs_owners(s: Session) -> list[tuple[str, str]]:
    from services.security.service import case_owners

    return case_owners(session=s)
