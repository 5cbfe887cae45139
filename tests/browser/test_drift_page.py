"""Drift watch on the dashboard in a real Chromium, at the station's 1366 x 768, in English and Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS
from tests.support.browser import Site, live_site, sign_in
from tests.support.driftline import DAY0, DAYS, S1, S2, drifting_line

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_site(tmp_path, {"qe1": "quality_engineer"}) as st:
        drifting_line(st.sessions, tmp_path)
        yield st


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_drifted_day_shows_in_the_alerts_and_its_station_opens(site: Site, browser, locale: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = sign_in(browser, site.url, "qe1", locale=locale)
    first, last = DAY0.date(), DAY0.date() + timedelta(days=DAYS - 1)
    page.goto(f"{site.url}/dashboard?since={first}&until={last}")
    rows = page.locator("#drift-alerts tbody tr.error")
    assert rows.count() == 4 and all(str(last) in rows.nth(i).inner_text() for i in range(4))
    opened = page.locator("details.drift[open]")
    assert opened.count() == 1 and opened.get_attribute("data-station") == S1
    assert page.locator(f"details.drift[data-station='{S2}']:not([open])").count() == 1
    assert opened.locator("svg.chart").count() == 4 and opened.locator("svg.chart circle.ooc").count() == 3
    assert opened.locator("svg.chart.psi polyline").count() == 1
    page.locator("#drift").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('drift').scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-drift-{locale}.png"))
    # Nothing wider than the screen: the figures scroll down, never sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
