"""The pages in a real headless Chromium (Debian's, driven by Playwright): rework station, history, containment, dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.core.db import transaction
from services.imagestore.store import store_image
from services.rework.orm import Disposition
from tests.conftest import ARTIFACTS
from tests.support.browser import OFFICE, STATION, Site, el_image, inside, live_site, sign_in
from tests.support.factories import T0, ingest, result

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
BARCODE = "MRW0000001"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_site(tmp_path, {"op1": "operator", "qe1": "quality_engineer"}) as st:
        with transaction(st.sessions) as s:
            png = el_image()
            env, _ = result(BARCODE, 3, ng=[(1, 3, "crack"), (1, 8, "crack")], png=png, size=(1200, 200))
            store_image(session=s, blobs=st.blobs, data=png, expected_sha256=env.image.sha256)
            others = [result(BARCODE, p, at=T0 + timedelta(minutes=p))[0] for p in (1, 2, 4, 5, 6)]
            ingest(s, [env, *others], st.device_row)
        yield st


def scan(page, code: str) -> None:  # type: ignore[no-untyped-def]
    """What a keyboard-wedge scanner does: type the code fast, then Enter."""
    page.locator("#scan").focus()
    page.keyboard.type(code)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def dispositions(site: Site) -> int:
    with transaction(site.sessions) as s:
        return int(s.scalar(select(func.count(Disposition.id))) or 0)


def test_operator_scans_sees_overlay_dispositions_by_keyboard_and_retest_closes(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = sign_in(browser, site.url, "op1")
    page.goto(f"{site.url}/rework?station=RW-01")
    scan(page, BARCODE)
    page.wait_for_selector("body[data-overlay-ready='1']")
    state = page.locator("#state")
    assert state.get_attribute("data-state") == "NG" and "rework 1 of 2" in page.locator("#loop-counter").inner_text()
    assert page.locator("svg.overlay g.cell").count() == 2
    rows = page.locator("#defects tbody tr")
    assert rows.count() == 2 and "crack" in rows.nth(0).inner_text()
    # The red state is red: the banner's computed colour, not a class name.
    assert page.eval_on_selector("#state", "e => getComputedStyle(e).backgroundColor") == "rgb(192, 22, 31)"
    ms = page.evaluate("document.body.dataset.scanToOverlayMs")
    print(f"scan-to-overlay in the browser: {ms} ms")
    (ARTIFACTS / "scan-to-overlay-ms.txt").write_text(f"{ms}\n")
    page.screenshot(path=str(ARTIFACTS / "rework-ng.png"), full_page=True)

    page.keyboard.press("F")  # mis-keyed: false call ...
    page.wait_for_selector("#defects tbody tr.done")
    assert dispositions(site) == 1
    page.keyboard.press("U")  # ... taken back with one key
    page.wait_for_selector("#undo-form", state="detached")
    assert dispositions(site) == 0 and page.locator("#defects tbody tr.done").count() == 0
    page.keyboard.press("S")  # first defect: re-soldered
    page.wait_for_selector("#defects tbody tr.done")
    assert dispositions(site) == 1
    page.keyboard.press("C")  # second: cell replaced; the scanner reads the new cell's lot
    page.wait_for_selector("#lot", state="visible")
    page.keyboard.type("CL-NEW-1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#state[data-state='RETEST']")
    assert dispositions(site) == 2
    assert page.eval_on_selector("#state", "e => getComputedStyle(e).backgroundColor") == "rgb(184, 110, 0)"
    page.screenshot(path=str(ARTIFACTS / "rework-retest.png"), full_page=True)

    # The string goes back to EL: an OK re-inspection closes the loop; the next scan shows green.
    with transaction(site.sessions) as s:
        ingest(s, [result(BARCODE, 3, at=T0 + timedelta(hours=1))[0]], site.device_row)
    scan(page, BARCODE)
    page.wait_for_selector("#state[data-state='OK']")
    assert page.eval_on_selector("#state", "e => getComputedStyle(e).backgroundColor") == "rgb(29, 122, 53)"
    page.screenshot(path=str(ARTIFACTS / "rework-ok.png"), full_page=True)

    # Unknown and malformed barcodes: a clear message, nothing changed.
    scan(page, "MZZ9999999")
    assert "Unknown barcode MZZ9999999" in page.locator("#state").inner_text()
    scan(page, "no such code!")
    assert "is not a module barcode" in page.locator("#state").inner_text()
    page.screenshot(path=str(ARTIFACTS / "rework-unknown.png"), full_page=True)
    assert dispositions(site) == 2


def test_a_scan_that_starts_with_a_disposition_key_is_a_scan(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    """A barcode starting with S, C, L, F or N typed by the scanner must not disposition anything."""
    page = sign_in(browser, site.url, "op1")
    page.goto(f"{site.url}/rework?station=RW-01")
    scan(page, BARCODE)
    page.wait_for_selector("#state[data-state='NG']")
    scan(page, "SN00000001")  # unknown, but typed as a scan: it must arrive as a scan
    assert "Unknown barcode SN00000001" in page.locator("#state").inner_text()
    assert dispositions(site) == 0


def test_quality_engineer_pages_render_history_containment_and_dashboard_charts(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = sign_in(browser, site.url, "qe1")
    page.goto(f"{site.url}/modules/{BARCODE}")
    assert page.locator("#loops tbody tr").count() == 1 and "open" in page.locator("#loops").inner_text()
    assert page.locator(".gallery figure").count() == 6
    page.goto(f"{site.url}/containment")
    page.locator("textarea[name=barcodes]").fill(BARCODE)
    page.keyboard.press("Tab")
    page.locator("#containment-form button[type=submit]").press("Enter")
    page.wait_for_selector("#containment-result")
    assert page.locator("#total").inner_text() == "1"
    page.goto(f"{site.url}/dashboard?since=2026-10-25&until=2026-11-05")
    charts = page.locator("svg.chart")
    assert charts.count() >= 9  # eight charts + one p-chart per station
    assert page.locator("svg.chart.fpy polyline").count() >= 1 and page.locator("svg.chart.pareto rect.b").count() >= 1
    assert page.locator("svg.chart.escapes, svg.chart.pchart").count() >= 2
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_markup_in_a_stored_defect_class_is_shown_as_text_never_run(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    """Stored DOM XSS at the rework station: a class name with markup (put in the database directly, as the
    contract now refuses it at ingest) is shown as text when the operator moves through the defects."""
    from services.inspection.orm import CellDefect

    payload = '<img src=x onerror="window.__xss=1">'
    with transaction(site.sessions) as s:
        defect = s.scalars(select(CellDefect).order_by(CellDefect.id)).first()
        defect.cls = payload  # type: ignore[union-attr]
    page = sign_in(browser, site.url, "op1")
    page.goto(f"{site.url}/rework?station=RW-01")
    scan(page, BARCODE)
    page.wait_for_selector("body[data-overlay-ready='1']")
    for key in ("ArrowDown", "ArrowDown", "ArrowUp"):
        page.keyboard.press(key)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator(".now img").count() == 0
    assert payload in page.locator(".now").inner_text() or payload in page.locator("#defects").inner_text()


def test_the_pages_run_under_the_content_security_policy_without_a_violation(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    """default-src 'self', no inline script or style: every page still works and the browser reports nothing blocked."""
    page = sign_in(browser, site.url, "qe1")
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    for path in ("/dashboard", "/containment", "/holds", "/complaints", "/ppm", f"/modules/{BARCODE}", "/docs"):
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{site.url}/rework?station=RW-01")
    scan(page, BARCODE)
    page.wait_for_selector("body[data-overlay-ready='1']")
    assert blocked == []


def _wait_count(site: Site, page, want: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if dispositions(site) == want:
            return
        page.wait_for_timeout(50)
    assert dispositions(site) == want


@pytest.mark.parametrize(("screen", "locale"), [(OFFICE, "zh-CN"), (STATION, "zh-CN"), (OFFICE, "en-US")])
def test_the_station_fits_each_screen_in_each_language(site: Site, browser, screen: dict[str, int], locale: str) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "op1", locale=locale, viewport=screen)
    page.goto(f"{site.url}/rework?station=RW-01")
    scan(page, BARCODE)
    page.wait_for_selector("body[data-overlay-ready='1']")
    size = f"{screen['width']} x {screen['height']}"
    for part in ("#keybar", "#defects tbody tr.current", "#zoom", "#state"):
        assert inside(page, part), f"{part} is outside the {size} screen after a scan ({locale})"
    page.screenshot(path=str(ARTIFACTS / f"station-{locale}-{screen['width']}.png"))


def test_the_station_fits_one_screen_and_no_key_is_lost_or_silent(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "op1")  # 1366 x 768, the station's screen
    page.goto(f"{site.url}/rework?station=RW-01")
    scan(page, BARCODE)
    page.wait_for_selector("body[data-overlay-ready='1']")
    for part in ("#keybar", "#defects tbody tr.current", "#zoom", "#state"):
        assert inside(page, part), f"{part} is outside the 1366 x 768 screen after a scan"
    page.screenshot(path=str(ARTIFACTS / "station-1366.png"))
    page.evaluate("window.__noReload = 1")

    page.keyboard.press("F")  # two keys within a few ms (faster than the page): two false calls, in order
    page.keyboard.press("F")
    _wait_count(site, page, 2)
    page.wait_for_selector("#state[data-state='RETEST']")
    assert page.evaluate("document.body.dataset.lastKey") == "ok" and page.locator("#toast.toast-ok").count() == 1
    for _ in range(2):
        page.keyboard.press("U")
        page.wait_for_timeout(250)
    _wait_count(site, page, 0)

    page.keyboard.press("C")  # C, then Enter with no lot scanned: refused out loud, nothing recorded
    page.wait_for_selector("#lot", state="visible")
    page.keyboard.press("Enter")
    page.wait_for_selector("#toast.toast-bad")
    assert dispositions(site) == 0 and page.evaluate("document.body.dataset.lastKey") == "refused"
    page.keyboard.press("Escape")

    page.wait_for_timeout(200)
    page.keyboard.press("R")  # the rest of the string: asked once more, then recorded for every open cell
    page.wait_for_timeout(200)
    assert dispositions(site) == 0 and "R" in page.locator("#toast").inner_text()
    page.keyboard.press("R")
    _wait_count(site, page, 2)
    assert page.evaluate("window.__noReload") == 1  # every key answered without loading the page again
    page.screenshot(path=str(ARTIFACTS / "station-after-keys.png"))

    # The session ends while the operator works: the key is not recorded, the page says so and signs in again.
    page.context.clear_cookies(name="eltrace_token")  # the browser drops the cookie when the session's time is up
    page.keyboard.press("U")
    page.wait_for_selector("#toast.toast-bad")
    assert "NOT" in page.locator("#toast").inner_text()
    page.wait_for_url("**/login?**", timeout=10_000)
    assert "NOT recorded" in page.locator("#signin-notice").inner_text()
    assert dispositions(site) == 2
