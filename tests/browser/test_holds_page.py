"""The holds page: no decision is pre-chosen, each one is confirmed and acknowledged, many holds take one decision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.core.db import transaction
from services.inspection.orm import Module
from services.rework import service as rework
from services.rework.orm import ModuleHold
from tests.conftest import ARTIFACTS
from tests.support.browser import Site, live_site, sign_in
from tests.support.factories import ingest, result

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
CODES = ["MHD0000001", "MHD0000002", "MHD0000003"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_site(tmp_path, {"qe1": "quality_engineer"}) as st:
        with transaction(st.sessions) as s:
            ingest(s, [result(c, 1)[0] for c in CODES], st.device_row)
            ids = list(s.scalars(select(Module.id).where(Module.barcode.in_(CODES))))
            rework.place_hold(session=s, module_ids=ids, source="containment", reason="suspect lot CL-9", actor="qe1")
        yield st


def decided(site: Site) -> int:
    with transaction(site.sessions) as s:
        return int(s.scalar(select(func.count(ModuleHold.id)).where(ModuleHold.decision.is_not(None))) or 0)


def test_a_decision_is_chosen_confirmed_and_acknowledged_one_or_many(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "qe1")
    page.goto(f"{site.url}/holds")
    first = page.locator("#holds tbody tr").first
    assert first.locator("select[name=decision]").input_value() == ""  # nothing pre-chosen (it was "scrap")

    first.locator("input[name=reason]").fill("checked, lot is fine")
    first.locator("select[name=decision]").select_option("release")
    page.once("dialog", lambda d: d.dismiss())  # the person says no: nothing is recorded
    first.locator("button[type=submit]").click()
    page.wait_for_timeout(300)
    assert decided(site) == 0

    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        first.locator("button[type=submit]").click()
    assert "1" in page.locator("#holds-done").inner_text() and decided(site) == 1

    for box in page.locator("#holds input[name=hold_ids]").all():
        box.check()
    bulk = page.locator("#bulk")
    bulk.locator("select[name=decision]").select_option("downgrade")
    bulk.locator("input[name=reason]").fill("EL re-test: grade B")
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        bulk.locator("button[type=submit]").click()
    assert "2" in page.locator("#holds-done").inner_text() and decided(site) == 3
    assert page.locator("#holds tbody tr").count() == 1  # the "no module is on hold" row
    page.screenshot(path=str(ARTIFACTS / "holds-decided.png"))


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_hold_list_prints_as_a_list_with_who_and_when(site: Site, browser, locale: str) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "qe1", locale=locale)
    page.goto(f"{site.url}/holds")
    assert page.locator("p.printed").is_hidden()  # on screen: the page as usual
    page.emulate_media(media="print")
    assert page.locator("header.bar").is_hidden() and page.locator("#holds select").first.is_hidden()
    assert page.locator("#bulk").is_hidden() and page.locator("[data-print]").is_hidden()
    printed = page.locator("p.printed")
    assert printed.is_visible() and "qe1" in printed.inner_text()
    rows = page.locator("#holds tbody tr")
    assert rows.count() == len(CODES) and all(c in page.locator("#holds").inner_text() for c in CODES)
    page.screenshot(path=str(ARTIFACTS / f"holds-print-{locale}.png"), full_page=True)
    page.pdf(path=str(ARTIFACTS / f"holds-print-{locale}.pdf"), format="A4", landscape=True)
    assert (ARTIFACTS / f"holds-print-{locale}.pdf").stat().st_size > 5_000
