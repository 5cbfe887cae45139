"""The EL review station in a real headless Chromium: one screen, keyboard only, no key lost (issue 15, item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.core.db import transaction
from services.imagestore.store import store_image
from services.inspection.orm import Inspection, Module
from services.review.orm import CellReview
from services.rework.orm import ReworkLoop
from tests.conftest import ARTIFACTS
from tests.support.browser import OFFICE, STATION, Site, el_image, inside, live_site, sign_in
from tests.support.factories import T0, ingest, result

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
FIRST, SECOND = "MRV1000001", "MRV1000002"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("ELTRACE_REVIEW_REFRESH_SECONDS", "1")  # the station polls every second (15 s on the floor)
    with live_site(tmp_path, {"op1": "operator"}) as st:
        with transaction(st.sessions) as s:
            envs = []
            for barcode, doubt, minutes in ((FIRST, [(1, 3, "crack"), (1, 8, "crack")], 0), (SECOND, [(1, 5, "dark_spot")], 2)):
                png = el_image()
                env, _ = result(barcode, 2, review=doubt, png=png, size=(1200, 200), at=T0 + timedelta(minutes=minutes))
                store_image(session=s, blobs=st.blobs, data=png, expected_sha256=env.image.sha256)
                envs.append(env)
            ingest(s, envs, st.device_row)
        yield st


def _decisions(site: Site) -> list[tuple[int, str, str]]:
    with transaction(site.sessions) as s:
        rows = s.execute(select(CellReview.defect_id, CellReview.decision, CellReview.cls).order_by(CellReview.defect_id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _verdicts(site: Site) -> dict[str, str]:
    with transaction(site.sessions) as s:
        return dict(
            s.execute(select(Module.barcode, Inspection.verdict).join(Inspection, Inspection.module_id == Module.id)).all()
        )  # type: ignore[arg-type]


def _wait(page, check) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if check():
            return
        page.wait_for_timeout(50)
    assert check()


@pytest.mark.parametrize(("screen", "locale"), [(STATION, "zh-CN"), (STATION, "en-US"), (OFFICE, "zh-CN")])
def test_the_review_station_fits_each_screen_in_each_language(site: Site, browser, screen: dict[str, int], locale: str) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "op1", locale=locale, viewport=screen)
    page.goto(f"{site.url}/review?station=STR-EL-01")
    page.wait_for_function("document.querySelector('.img-wrap img').complete")
    for part in ("#queue", "#keybar", "#cells tbody tr.current", "#zoom", "#classes li.on", "#now"):
        assert inside(page, part), f"{part} is outside the {screen['width']} x {screen['height']} screen ({locale})"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("#queue").get_attribute("data-waiting") == "2"
    if locale == "zh-CN":
        assert "待复判" in page.locator("#queue").inner_text() and "隐裂" in page.locator("#now").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"review-{locale}-{screen['width']}.png"))


def test_an_operator_reviews_the_queue_by_keyboard_and_no_fast_key_is_lost(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "op1")
    page.goto(f"{site.url}/review?station=STR-EL-01")
    page.wait_for_selector("#cells tbody tr.current")
    page.evaluate("window.__noReload = 1")

    # Faster than the page: -> (next class) and D within a few ms, then O for the second cell at once.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("d")
    page.keyboard.press("o")
    _wait(page, lambda: len(_decisions(site)) == 2)
    (d1, dec1, cls1), (d2, dec2, cls2) = _decisions(site)
    assert (dec1, cls1, dec2, cls2) == ("DEFECT", "star_crack", "OK", "ok")  # the class the arrow chose, in order
    page.wait_for_selector("#toast.toast-ok")

    page.keyboard.press("u")  # the O was a mis-key: taken back, then the cell is a defect of the model's class
    page.keyboard.press("d")
    _wait(page, lambda: [x[1] for x in _decisions(site)] == ["DEFECT", "DEFECT"])
    page.screenshot(path=str(ARTIFACTS / "review-decided-1366.png"))

    page.keyboard.press(" ")  # finish: NG, into rework; the next string comes up without a reload
    page.wait_for_selector("body[data-image-ready='1']")
    assert page.locator("#image").get_attribute("data-result") != ""
    assert _verdicts(site)[FIRST] == "NG"
    with transaction(site.sessions) as s:
        assert s.scalar(select(func.count(ReworkLoop.id))) == 1
    assert inside(page, "#keybar") and inside(page, "#cells tbody tr.current")
    print(f"\nreview: key -> next string on screen {page.evaluate('document.body.dataset.nextImageMs')} ms")

    page.keyboard.press(" ")  # Space before the cell is decided: refused out loud, nothing changes
    page.wait_for_selector("#toast.toast-bad")
    assert _verdicts(site)[SECOND] == "REVIEW" and page.evaluate("document.body.dataset.lastKey") == "refused"
    page.keyboard.press("o")
    page.keyboard.press(" ")
    page.wait_for_selector("#empty")
    assert _verdicts(site) == {FIRST: "NG", SECOND: "OK"} and len(_decisions(site)) == 3
    assert page.locator("#queue").get_attribute("data-waiting") == "0"
    page.screenshot(path=str(ARTIFACTS / "review-empty-1366.png"))

    # A new REVIEW string comes in while the station is empty: it shows up by itself, no reload.
    with transaction(site.sessions) as s:
        ingest(s, [result("MRV1000003", 1, review=[(1, 2, "crack")], at=T0 + timedelta(minutes=9))[0]], site.device_row)
    page.wait_for_selector("#image", timeout=10_000)
    assert page.locator("#queue").get_attribute("data-waiting") == "1" and "MRV1000003" in page.locator("#image").inner_text()
    assert page.evaluate("window.__noReload") == 1
