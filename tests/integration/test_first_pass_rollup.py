"""The daily first-pass roll-up ingest keeps: counted once per string, plant days, same answers as the images."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from services.core.db import make_engine, make_sessionmaker, transaction
from services.devices.orm import Device
from services.devices.service import provision_device
from services.ingest.store import store_batch
from services.inspection.firstpass import rebuild_first_pass_days
from services.inspection.orm import FirstPassDay, Inspection, Module
from services.metrics.dashboard import dashboard
from tests.conftest import SECRET
from tests.support.factories import result

ZONE = "Asia/Shanghai"
DAY0 = datetime(2026, 11, 10, tzinfo=ZoneInfo(ZONE))  # plant midnight = 16:00 UTC the day before


def _history(sessions: sessionmaker[Session]) -> int:
    """Three plant days of images: retests after rework, redelivered batches, two looks at a string in one batch."""
    rng = random.Random(4)
    with transaction(sessions) as s:
        for code, st in (("edge-1", "STR-EL-01"), ("edge-2", "STR-EL-02")):
            provision_device(session=s, code=code, station_code=st, master_secret=SECRET.encode())
        dev = dict(s.execute(select(Device.code, Device.id)).all())
    sent = 0
    for k in range(60):
        at = DAY0 + timedelta(hours=rng.uniform(0, 72))
        device, station = rng.choice([("edge-1", "STR-EL-01"), ("edge-2", "STR-EL-02")])
        barcode = f"MR{k % 40:08d}"  # 20 modules come back: their strings are retests
        envs = [
            result(
                barcode,
                p,
                ng=[(1, 2, "crack")] if rng.random() < 0.3 else (),
                at=at + timedelta(seconds=p),
                device=device,
                station=station,
            )[0]
            for p in (1, 2, 3)
        ]
        if k % 7 == 0:  # the same string imaged twice in one batch: only the earlier capture is first pass
            envs.append(result(barcode, 1, at=at + timedelta(minutes=5), device=device, station=station)[0])
        batches = [envs, envs] if k % 5 == 0 else [envs]  # a redelivered batch changes nothing
        for batch in batches:
            with transaction(sessions) as s:
                store_batch(session=s, items=[(e, dev[device]) for e in batch], loop_limit=3, plant_timezone=ZONE)
        sent += len(envs)
    return sent


def _truth(s: Session) -> tuple[Counter[tuple[str, str, str]], int]:
    """From the stored images alone: the earliest string EL capture of each module string, by plant day."""
    rows = s.execute(
        select(
            Inspection.module_id, Inspection.string_position, Inspection.captured_at, Inspection.station_code, Inspection.verdict
        )
        .where(Inspection.stage == "string_el")
        .order_by(Inspection.captured_at)
    ).all()
    first: dict[tuple[int, int], tuple[datetime, str, str]] = {}
    for m, p, at, st, v in rows:
        first.setdefault((m, p), (at, st, v))
    counts = Counter((at.astimezone(ZoneInfo(ZONE)).date().isoformat(), st, v) for at, st, v in first.values())
    return counts, len({m for m, _ in first})


def _board_counts(s: Session, since: datetime, until: datetime) -> Counter[tuple[str, str, str]]:
    """(plant day, station, verdict) -> first-pass strings, as the dashboard reports them (one station at a time)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for st in ("STR-EL-01", "STR-EL-02"):
        for r in dashboard(session=s, since=since, until=until, station=st, plant_timezone=ZONE).by_day:
            counts.update({(r.key, st, "OK"): r.first_pass_ok, (r.key, st, "NG"): r.ng})
    return +counts


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(db_url))


def test_roll_up_counts_each_string_once_on_its_plant_day(sessions: sessionmaker[Session]) -> None:
    sent = _history(sessions)
    with transaction(sessions) as s:
        truth, modules = _truth(s)
        stored = s.query(Inspection).count()
        rolled: Counter[tuple[str, str, str]] = Counter()
        for d, st, v, n in s.execute(
            select(FirstPassDay.day, FirstPassDay.station_code, FirstPassDay.verdict, FirstPassDay.strings)
        ):
            rolled[(d, st, v)] += n
        assert sum(s.scalars(select(FirstPassDay.modules))) == modules == s.query(Module).count()
    assert stored == sent  # every image stored once (redeliveries ignored) ...
    assert sum(truth.values()) == 120 and +rolled == truth  # ... and every module string counted once, on its plant day
    # Whole plant days (roll-up) and the same days cut at odd hours (images at the edges) answer alike.
    with transaction(sessions) as s:
        whole = _board_counts(s, DAY0.astimezone(UTC), (DAY0 + timedelta(days=3)).astimezone(UTC))
        ragged = _board_counts(
            s, (DAY0 - timedelta(hours=5)).astimezone(UTC), (DAY0 + timedelta(days=3, hours=7)).astimezone(UTC)
        )
    assert whole == truth and ragged == truth


def test_a_window_cut_inside_a_day_counts_only_its_piece(sessions: sessionmaker[Session]) -> None:
    _history(sessions)
    cut = DAY0 + timedelta(days=1, hours=13)
    with transaction(sessions) as s:
        truth, _ = _truth(s)
        first_strings = s.execute(
            select(Inspection.captured_at).where(Inspection.first_pass.is_(True), Inspection.captured_at < cut.astimezone(UTC))
        ).all()
        got = _board_counts(s, DAY0.astimezone(UTC), cut.astimezone(UTC))
    assert sum(got.values()) == len(first_strings) < sum(truth.values())


def test_rebuild_gives_the_same_roll_up_and_a_lost_roll_up_shows(sessions: sessionmaker[Session]) -> None:
    _history(sessions)
    key = (
        FirstPassDay.day,
        FirstPassDay.station_code,
        FirstPassDay.shift,
        FirstPassDay.verdict,
        FirstPassDay.strings,
        FirstPassDay.modules,
    )
    with transaction(sessions) as s:
        before = sorted(s.execute(select(*key)).all())
        truth, _ = _truth(s)
        s.execute(delete(FirstPassDay))
        # Negative control: without the roll-up the whole days read empty, so the comparison above can fail.
        assert _board_counts(s, DAY0.astimezone(UTC), (DAY0 + timedelta(days=3)).astimezone(UTC)) != truth
        assert rebuild_first_pass_days(s, ZONE, chunk=7) == sum(truth.values())
        assert sorted(s.execute(select(*key)).all()) == before


def test_the_migration_flags_an_existing_history_as_ingest_does(
    db_url: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command

    from services.migrations.runner import alembic_config, upgrade

    _history(sessions)
    flags = (Inspection.result_id, Inspection.first_pass, Inspection.first_of_module)
    key = (
        FirstPassDay.day,
        FirstPassDay.station_code,
        FirstPassDay.shift,
        FirstPassDay.verdict,
        FirstPassDay.strings,
        FirstPassDay.modules,
    )
    with transaction(sessions) as s:
        by_ingest = sorted(s.execute(select(*flags)).all())
        rolled = sorted(s.execute(select(*key)).all())
    sessions.kw["bind"].dispose()
    command.downgrade(alembic_config(db_url), "0010")  # a database from before the roll-up, holding this history
    monkeypatch.setenv("ELTRACE_PLANT_TIMEZONE", ZONE)
    upgrade(db_url)
    with transaction(sessions) as s:
        assert sorted(s.execute(select(*flags)).all()) == by_ingest
        assert sorted(s.execute(select(*key)).all()) == rolled
