"""Drift watch (issue 15, item 6): the score roll-up ingest keeps, and a drifted day read against its limits.

A line runs ten plant days; on the last one the OK cells' scores move up (new glass, a camera out of
focus), the model asks for review three times as often, its NG calls are false and a later EL stage
finds what it passed. Every figure must flag that day, and only that day, at that station only.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from services.contracts.scores import score_bin
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings
from services.drift.schemas import DriftMetric, DriftWatch
from services.drift.service import watch
from services.inspection.orm import Inspection, ScoreDay
from services.inspection.scores import rebuild_score_days
from services.security.service import create_user
from tests.conftest import SECRET
from tests.support.driftline import DAY0, DAYS, DRIFT_DAY, S1, S2, STRINGS, ZONE, drifting_line
from tests.support.factories import MODEL
from tests.support.http import PASSWORD


def _truth(s: Session) -> Counter[tuple[str, str, str, str, int]]:
    """The roll-up as the stored cell scores alone give it."""
    c: Counter[tuple[str, str, str, str, int]] = Counter()
    rows = s.execute(
        select(Inspection.captured_at, Inspection.station_code, Inspection.model_version, Inspection.cell_scores).where(
            Inspection.stage == "string_el"
        )
    )
    for at, st, v, cells in rows:
        day = at.astimezone(ZoneInfo(ZONE)).date().isoformat()
        for cell in cells:
            c[(day, st, v, cell[2], score_bin(cell[3]))] += 1
    return c


def _rolled(s: Session) -> Counter[tuple[str, str, str, str, int]]:
    cols = (ScoreDay.day, ScoreDay.station_code, ScoreDay.model_version, ScoreDay.decision, ScoreDay.bin, ScoreDay.cells)
    return Counter({(d, st, v, dec, b): n for d, st, v, dec, b, n in s.execute(select(*cols))})


def _watch(sessions: sessionmaker[Session], station: str | None = None) -> DriftWatch:
    first = DAY0.date()
    with transaction(sessions) as s:
        return watch(session=s, first_day=first, last_day=first + timedelta(days=DAYS - 1), station=station, plant_timezone=ZONE)


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(db_url))


def test_the_roll_up_counts_every_judged_cell_once_and_rebuilds_the_same(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    drifting_line(sessions, tmp_path)
    with transaction(sessions) as s:
        truth, rolled = _truth(s), _rolled(s)
        assert sum(truth.values()) == DAYS * 2 * STRINGS * 12  # redelivered batches stored nothing twice
        assert rolled == truth
        s.execute(delete(ScoreDay))
        assert _rolled(s) != truth  # negative control: the comparison sees a lost roll-up
        assert rebuild_score_days(s, ZONE, chunk=7) == DAYS * 2 * STRINGS  # string EL images only, not the final EL ones
        assert _rolled(s) == truth


def test_a_drifted_day_is_flagged_on_every_figure_and_nothing_else_is(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    drifting_line(sessions, tmp_path)
    w = _watch(sessions)
    drift_day = (DAY0 + timedelta(days=DRIFT_DAY)).date().isoformat()
    assert {(a.day, a.station, a.model_version, a.metric) for a in w.alerts} == {
        (drift_day, S1, MODEL.version, m) for m in DriftMetric
    }
    by_station = {s.station: s for s in w.series}
    s1, s2 = by_station[S1], by_station[S2]
    assert len(s1.days) == len(s2.days) == DAYS and s1.has_reference
    assert s1.cells == [STRINGS * 12] * DAYS
    # The figures themselves: normal days 10 REVIEW cells of 360, the drifted day one per string.
    assert [p.count for p in s1.review_load.points] == [10] * DRIFT_DAY + [STRINGS]
    assert [p.count for p in s1.false_call_rate.points] == [1, 1, 1] + [0] * 6 + [3]
    assert [p.n for p in s1.false_call_rate.points] == [3] * DAYS
    assert s1.escape_rate.points[-1].count == 2 and s1.escape_rate.points[-1].n == 2  # no confirmed defect that day
    assert all(p.psi is not None and p.psi < 0.1 for p in s1.psi[:DRIFT_DAY]) and s1.psi[-1].psi > 1.0
    assert all(p.psi is not None and p.psi < 0.1 for p in s2.psi)
    # One station asked for: only its figures.
    assert {s.station for s in _watch(sessions, S2).series} == {S2} and not _watch(sessions, S2).alerts


def test_a_model_without_validation_scores_gets_no_psi_but_its_limits(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    drifting_line(sessions, tmp_path, register_reference=False)
    w = _watch(sessions)
    assert all(not s.has_reference and all(p.psi is None for p in s.psi) for s in w.series)
    assert {a.metric for a in w.alerts} == {DriftMetric.REVIEW_LOAD, DriftMetric.FALSE_CALL_RATE, DriftMetric.ESCAPE_RATE}


def test_the_dashboard_shows_the_alerts_and_the_api_gives_them(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    drifting_line(sessions, tmp_path)
    with transaction(sessions) as s:
        create_user(session=s, username="qe", password=PASSWORD, role="quality_engineer")
    settings = ApiSettings(profile="test", database_url=db_url, secret_key=SECRET, data_dir=tmp_path, plant_timezone=ZONE)
    client = TestClient(create_app(settings))
    r = client.post("/api/v1/auth/token", data={"username": "qe", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    first, last = DAY0.date(), DAY0.date() + timedelta(days=DAYS - 1)
    r = client.get(f"/api/v1/drift?first_day={first}&last_day={last}", headers=auth)
    assert r.status_code == 200, r.text
    assert len(r.json()["alerts"]) == 4
    assert client.get(f"/api/v1/drift?first_day={last}&last_day={first}", headers=auth).status_code == 400
    page = client.get(f"/dashboard?since={first}&until={last}", headers={**auth, "Accept-Language": "en"})
    assert page.status_code == 200
    table = page.text.split('id="drift-alerts"')[1].split("</table>")[0]
    assert table.count('<tr class="error">') == 4 and "score shift (PSI)" in table and "review load" in table


def test_the_migration_rolls_up_an_existing_history_as_ingest_does(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command

    from services.migrations.runner import alembic_config, upgrade

    drifting_line(sessions, tmp_path)
    with transaction(sessions) as s:
        by_ingest = _rolled(s)
    sessions.kw["bind"].dispose()
    command.downgrade(alembic_config(db_url), "0015")  # a database from before the score roll-up, holding this history
    monkeypatch.setenv("ELTRACE_PLANT_TIMEZONE", ZONE)
    upgrade(db_url)
    with transaction(sessions) as s:
        assert sum(by_ingest.values()) == DAYS * 2 * STRINGS * 12 and _rolled(s) == by_ingest
