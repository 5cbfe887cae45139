"""An admin adds a webhook subscriber, copies its secret, pauses, resumes, rotates and removes it (headless Chromium, 1366 x 768)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS
from tests.support.browser import live_site, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    with live_site(tmp_path, {"adm": "admin", "qe1": "quality_engineer"}) as st:
        yield st.url


def test_an_admin_manages_a_webhook_subscriber_from_the_page(browser, site: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = sign_in(browser, site, "adm")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.click("nav >> text=Events")
    page.wait_for_url(f"{site}/admin/events")
    assert "No subscriber yet" in page.inner_text("#subscribers")
    page.screenshot(path=str(ARTIFACTS / "events-admin-empty.png"), full_page=True)
    page.fill("input[name=name]", "MES-L1")
    page.fill("input[name=url]", "http://127.0.0.1:9/hook")
    page.check("input[value='com.eltrace.result.stored']")
    page.check("input[value='com.eltrace.gate.blocked']")
    page.click("#add button[type=submit]")
    secret = page.inner_text("#secret-value")
    assert len(secret) >= 32 and "shown only this once" in page.inner_text("#secret")
    row = page.locator("#sub-MES-L1")
    assert "2 type(s)" in row.inner_text() and "delivering" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "events-admin-secret.png"))
    # Reloading the list never shows the secret again.
    page.goto(f"{site}/admin/events")
    assert page.locator("#secret").count() == 0 and secret not in page.content()
    row.locator("button:has-text('Pause')").click()
    assert "MES-L1 paused" in page.inner_text("[role=status]") and "paused" in row.inner_text()
    row.locator("button:has-text('Resume')").click()
    assert "delivering" in row.inner_text()
    row.locator("button:has-text('Rotate secret')").click()
    rotated = page.inner_text("#secret-value")
    assert rotated != secret and "keeps signing beside it" in page.inner_text("#secret")
    page.click("#subscribers >> text=MES-L1")
    assert "No delivery yet" in page.inner_text("#log") and "None." in page.inner_text("#dead")
    page.screenshot(path=str(ARTIFACTS / "events-admin-subscriber.png"))
    page.goto(f"{site}/admin/events")
    page.on("dialog", lambda d: d.accept())
    page.locator("#sub-MES-L1 button:has-text('Remove')").click()
    assert "MES-L1 removed" in page.inner_text("[role=status]") and page.locator("#sub-MES-L1").count() == 0
    # A bad URL is refused with the reason, and nothing is added.
    page.fill("input[name=name]", "bad")
    page.fill("input[name=url]", "http://x")
    page.evaluate("document.querySelector('input[name=url]').type = 'text'")  # past the browser's own check
    page.fill("input[name=url]", "not a url")
    page.click("#add button[type=submit]")
    assert "Not changed" in page.inner_text("[role=alert]") and page.locator("#sub-bad").count() == 0


def test_the_events_page_is_for_admins_only(browser, site: str) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site, "qe1")
    assert page.locator("nav >> text=Events").count() == 0
    r = page.goto(f"{site}/admin/events")
    assert r is not None and r.status == 403
