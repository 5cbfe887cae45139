"""The results list people open first: the last week by default, filters by verdict / station / plant days, pages, CSV."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.time import utcnow
from tests.support.factories import ingest, result
from tests.support.http import token

FIXTURE_DAY = "2026-11-01"  # the client fixture's 14 results (2 NG) were captured that day


def _recent(db_url: str, n: int) -> None:
    """n results of this morning on STR-EL-02, every fifth one NG."""
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        from sqlalchemy import text

        dev = s.execute(text("select id from device where code='edge-t1'")).scalar_one()
        now = utcnow()
        envs = [
            result(
                f"MRL{i:07d}", 1, station="STR-EL-02", at=now - timedelta(minutes=i), ng=[(1, 2, "crack")] if i % 5 == 0 else []
            )[0]
            for i in range(n)
        ]
        ingest(s, envs, dev)


def test_the_list_shows_the_last_week_and_pages_through_it(client: TestClient, db_url: str) -> None:
    _recent(db_url, 60)
    h = token(client, "quality_engineer")
    first = client.get("/", headers=h)
    assert first.status_code == 200 and "60 results" in first.text  # the fixture's month-old 14 are outside the week
    assert first.text.count('href="/modules/MRL') == 50 and 'id="results-older"' in first.text
    second = client.get("/", headers=h, params={"offset": 50})
    assert second.text.count('href="/modules/MRL') == 10 and 'id="results-newer"' in second.text
    assert "entries 51 to 60 of 60" in second.text


def test_filters_and_csv_agree(client: TestClient, db_url: str) -> None:
    _recent(db_url, 20)
    h = token(client, "quality_engineer")
    ng = client.get("/", headers=h, params={"verdict": "NG", "station": "str-el-02"})
    assert "4 results" in ng.text  # 0, 5, 10, 15
    old = client.get("/", headers=h, params={"since": FIXTURE_DAY, "until": FIXTURE_DAY})
    assert "14 results" in old.text and "MRL" not in old.text
    csv_ = client.get("/results.csv", headers=h, params={"verdict": "NG", "since": FIXTURE_DAY})
    rows = csv_.text.lstrip("\ufeff").strip().splitlines()
    assert csv_.text.startswith("\ufeff") and len(rows) == 1 + 2 + 4  # header, the fixture's 2 NG, today's 4
    assert all(",NG," in r for r in rows[1:])
    zh = client.get("/", headers={**h, "Accept-Language": "zh-CN"}, params={"since": "2026-12-40"})
    assert "日期格式如 2026-11-25。" in zh.text  # the date error in the reader's language
    bad = client.get("/", headers=h, params={"since": "2026-11-05", "until": "2026-11-01"})
    assert "The first day is after the last one." in bad.text
    assert "Choose a verdict" in client.get("/", headers=h, params={"verdict": "MAYBE"}).text


def test_a_quiet_week_points_to_the_newest_results(client: TestClient) -> None:
    h = token(client, "quality_engineer")
    page = client.get("/", headers=h)
    assert "0 results" in page.text and f"The newest result is of {FIXTURE_DAY}" in page.text
    week = client.get("/", headers=h, params={"since": "2026-10-26", "until": FIXTURE_DAY})
    assert "14 results" in week.text and 'href="/?since=2026-10-26&amp;until=2026-11-01"' in page.text
