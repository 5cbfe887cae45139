"""Every page a person opens, in a zh-CN and an en browser at the station's 1366 x 768: the language follows the
browser, no English word or raw code is left on a Chinese page, times are plant time. Screenshots for a person
to look at land in test-artifacts/lang-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.db import transaction
from services.imagestore.store import store_image
from services.rework import service as rework
from services.rework import views
from tests.conftest import ARTIFACTS
from tests.support.browser import OFFICE, STATION, Site, el_image, live_site, sign_in
from tests.support.factories import ingest, result

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
BARCODE = "MLG0000001"
PAGES = {
    "home": "/",
    "station": f"/rework?barcode={BARCODE}&station=RW-01",
    "module": f"/modules/{BARCODE}",
    "holds": "/holds",
    "dashboard": "/dashboard",
    "complaints": "/complaints",
    "containment": f"/containment?barcodes={BARCODE}&submitted=1&share_work_order=1",
    "ppm": "/ppm",
    "audit": "/audit",
}
# Words of the English pages that must not be left on the Chinese ones (nav, headings, vocabulary codes).
ENGLISH = ("Rework", "Complaints", "Dashboard", "Sign out", "Results", "dead_cell", "crack", "NG - REWORK", "string")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_site(tmp_path, {"qe1": "quality_engineer"}) as st:
        with transaction(st.sessions) as s:
            png = el_image()
            env, _ = result(BARCODE, 1, ng=[(1, 3, "crack"), (1, 8, "dead_cell")], png=png, size=(1200, 200))
            store_image(session=s, blobs=st.blobs, data=png, expected_sha256=env.image.sha256)
            ingest(s, [env], st.device_row)
        with transaction(st.sessions) as s:  # a disposition, so the audit trail has a change to show
            d = views.station_view(session=s, barcode=BARCODE, loop_limit=2).defects[0]
            item = rework.DispositionInput(d.defect_id, "repaired", "RESOLDER", None)
            rework.dispose(session=s, loop_id=d.loop_id, item=item, actor="op1", station="RW-01")
        yield st


@pytest.mark.parametrize("screen", [STATION, OFFICE], ids=["1366", "1920"])
@pytest.mark.parametrize(("locale", "lang"), [("zh-CN", "zh-CN"), ("en-US", "en")])
def test_every_page_in_the_browsers_language(browser, site: Site, locale: str, lang: str, screen: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "qe1", locale=locale, viewport=screen)
    suffix = "" if screen == STATION else f"-{screen['width']}"
    for name, path in PAGES.items():
        response = page.goto(f"{site.url}{path}")
        assert response is not None and response.status == 200, (name, response and response.status)
        assert page.locator("html").get_attribute("lang") == lang, name
        page.screenshot(path=str(ARTIFACTS / f"lang-{lang}-{name}{suffix}.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= screen["width"], f"{name}: wider than the screen"
        body = page.locator("body").inner_text()
        if lang == "zh-CN":
            left = [w for w in ENGLISH if w in body]
            assert not left, f"{name}: English left on the Chinese page: {left}"
            assert name == "station" or "工厂时间" in body  # the station keeps its screen for the work
        else:
            assert "Sign out" in body and "工厂时间" not in body
    if lang == "zh-CN":
        page.goto(f"{site.url}{PAGES['station']}")
        assert "NG - 返工" in page.locator("#state").inner_text()
        assert "短路 / 死片" in page.locator("#defects").inner_text()


def test_the_switch_changes_the_language_and_stays(browser, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "qe1", locale="zh-CN")
    page.goto(f"{site.url}/holds")
    assert "隔离中的组件" in page.locator("h1").inner_text()
    with page.expect_navigation():
        page.locator(".lang button[value=en]").click()
    assert page.url.endswith("/holds") and page.locator("h1").inner_text() == "Modules on hold"
    page.goto(f"{site.url}/")
    assert "String EL results" in page.locator("h1").inner_text()
