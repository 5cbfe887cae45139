"""The dashboard over a half-open window [since, until) and for one station: every figure on a known scenario."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.errors import InvalidInput
from services.core.time import set_clock
from services.devices.orm import Device
from services.devices.service import provision_device
from services.inspection.orm import CellDefect, Module
from services.metrics.dashboard import Dashboard, dashboard
from services.rework import service as rw
from services.rework.orm import ReworkLoop
from tests.conftest import SECRET
from tests.support.factories import ingest, result

T = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # since
U = T + timedelta(days=1)  # until: anything at exactly U is outside
S1, S2 = "STR-EL-01", "STR-EL-02"


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """Station 1: A NG (repaired at since), G NG (not repairable), B and E OK, E escapes at final EL, B's escape at until.
    Station 2: C NG (false call at until), F NG (repaired after 1 h), H NG (open), D NG at until."""
    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        for code, st in (("edge-1", S1), ("edge-2", S2)):
            provision_device(session=s, code=code, station_code=st, master_secret=SECRET.encode())
        dev = dict(s.execute(select(Device.code, Device.id)).all())

    def send(device: str, *envs: object) -> None:
        with transaction(sessions) as s:
            ingest(s, [e for e, _ in envs], dev[device])  # type: ignore[misc]

    def dispose(barcode: str, at: datetime, kind: str, code: str | None = None) -> None:
        set_clock(at)
        with transaction(sessions) as s:
            lid, defect = _loop_of(s, barcode)
            rw.dispose(session=s, loop_id=lid, item=rw.DispositionInput(defect, kind, code), actor="op", station="RW-1")

    send("edge-1", result("MA00000001", 1, ng=[(1, 3, "crack")], at=T, device="edge-1", station=S1))
    send("edge-1", result("MB00000001", 1, at=T + timedelta(hours=1), device="edge-1", station=S1))
    send("edge-1", result("MG00000001", 1, ng=[(1, 4, "crack")], at=T + timedelta(hours=1), device="edge-1", station=S1))
    send("edge-1", result("ME00000001", 1, at=T + timedelta(hours=2), device="edge-1", station=S1))
    send("edge-2", result("MC00000001", 1, ng=[(1, 2, "dark_spot")], at=T + timedelta(hours=1), device="edge-2", station=S2))
    send("edge-2", result("MF00000001", 1, ng=[(1, 5, "crack")], at=T + timedelta(hours=3), device="edge-2", station=S2))
    send("edge-2", result("MD00000001", 1, ng=[(1, 6, "crack")], at=U, device="edge-2", station=S2))
    send("edge-2", result("MH00000001", 1, ng=[(1, 7, "crack")], at=T + timedelta(hours=5), device="edge-2", station=S2))
    dispose("MA00000001", T, "repaired", "RESOLDER")
    dispose("MG00000001", T + timedelta(hours=4), "not_repairable")
    dispose("MF00000001", T + timedelta(hours=4), "repaired", "CLEAN")
    dispose("MC00000001", U, "false_call")
    final = dict(stage="final_el", station="FIN-EL-01", device="edge-1")
    send("edge-1", result("ME00000001", 1, ng=[(1, 9, "crack")], at=T + timedelta(hours=5), **final))  # type: ignore[arg-type]
    send("edge-1", result("MB00000001", 1, ng=[(1, 8, "crack")], at=U, **final))  # type: ignore[arg-type]
    set_clock(None)
    yield sessions


def _loop_of(s: Session, barcode: str) -> tuple[int, int]:
    row = s.execute(
        select(ReworkLoop.id, CellDefect.id)
        .join(CellDefect, CellDefect.inspection_id == ReworkLoop.ng_inspection_id)
        .join(Module, Module.id == ReworkLoop.module_id)
        .where(Module.barcode == barcode)
    ).one()
    return int(row[0]), int(row[1])


def _board(sessions: sessionmaker[Session], station: str | None = None, since: datetime = T, until: datetime = U) -> Dashboard:
    with transaction(sessions) as s:
        return dashboard(session=s, since=since, until=until, station=station)


def test_one_station_counts_only_its_own_images_loops_dispositions_and_escapes(sessions: sessionmaker[Session]) -> None:
    d = _board(sessions, S1)
    (day,) = d.by_day
    assert (day.key, day.inspected, day.ng, day.first_pass_ok) == ("2026-11-02", 4, 2, 2)
    assert [r.key for r in d.by_station] == [S1] and [r.key for r in d.by_shift] == ["2026-11-02/A"]
    assert d.pareto == [("crack", 2)]
    assert d.loops_per_module == {"0": 2, "1": 2}
    assert d.repair_hours_median == pytest.approx(1.5) and d.repair_hours_p90 == pytest.approx(3.0)  # 0 h and 3 h
    t = d.field_total
    assert (t.dispositions, t.false_calls, t.confirmed_defects, t.escapes) == (2, 0, 2, 1)
    assert t.escape_rate == pytest.approx(1 / 3)  # E's final EL defect; B's lies at `until`, outside
    wider = _board(sessions, S1, until=U + timedelta(seconds=1)).field_total  # now B's escape is inside too
    assert (wider.confirmed_defects, wider.escapes, wider.escape_rate) == (2, 2, pytest.approx(0.5))


def test_the_other_station_and_the_edges_of_the_window(sessions: sessionmaker[Session]) -> None:
    d = _board(sessions, S2)
    (day,) = d.by_day
    assert (day.inspected, day.ng) == (3, 3)  # D was taken at exactly `until`: not in this window
    assert d.pareto == [("crack", 2), ("dark_spot", 1)]
    assert d.loops_per_module == {"0": 0, "1": 3}
    assert d.repair_hours_median == pytest.approx(1.0)  # F; C's false call came at `until`
    t = d.field_total
    assert (t.dispositions, t.false_calls, t.escapes, t.escape_rate) == (1, 0, 0, 0.0)
    assert [r.escapes for r in d.field] == [0]
    everything = _board(sessions)
    assert sum(r.inspected for r in everything.by_day) == 7 and [r.key for r in everything.by_station] == [S1, S2]
    later = _board(sessions, since=U, until=U + timedelta(hours=1))  # the things at `until` belong to the next window
    assert sum(r.inspected for r in later.by_day) == 1 and later.field_total.false_calls == 1
    assert later.field_total.escapes == 1
    empty = _board(sessions, since=T - timedelta(days=30), until=T - timedelta(days=29))
    assert empty.by_day == [] and empty.loops_per_module == {"0": 0} and empty.repair_hours_median is None


def test_window_rules(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInput, match="after since"):
        _board(sessions, since=T, until=T)
    _board(sessions, since=T, until=T + timedelta(days=366))
    with pytest.raises(InvalidInput, match="366 days"):
        _board(sessions, since=T, until=T + timedelta(days=366, seconds=1))
