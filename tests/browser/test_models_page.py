"""The models page: what each station runs, live vs shadow on the same images, promote and roll back, confirmed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from services.audit.orm import AuditEntry
from services.contracts import ResultEnvelope
from services.core.db import transaction
from services.registry import service as registry
from services.registry.schemas import Role
from tests.conftest import ARTIFACTS
from tests.support.browser import OFFICE, STATION, Site, live_site, sign_in
from tests.support.factories import ingest, result

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
MODELS = Path(__file__).resolve().parents[2] / "models" / "el-cell-classifier"
LIVE, SHADOW = "1.1.0", "2.4.1-int8"


def _with_shadow(env: ResultEnvelope, shadow_ng: set[int], shas: dict[str, str]) -> ResultEnvelope:
    """The result as the live model gave it, with the shadow's verdict beside it (contract v3): NG at `shadow_ng`."""
    cells = [
        {"row": 1, "col": c.col, "decision": "NG" if c.col in shadow_ng else "OK", "p_defect": 0.9 if c.col in shadow_ng else 0.01,
         "top_class": "crack" if c.col in shadow_ng else "ok", "top_score": 0.9 if c.col in shadow_ng else 0.99}
        for c in env.cells
    ]  # fmt: skip
    shadow = {
        "model": {"name": "el-cell-classifier", "version": SHADOW, "sha256": shas[SHADOW]},
        "verdict": "NG" if shadow_ng else "OK",
        "cells": cells,
        "ms": 120.0,
    }
    live = {"name": "el-cell-classifier", "version": LIVE, "sha256": shas[LIVE]}
    return ResultEnvelope.model_validate({**env.model_dump(mode="json"), "model": live, "schema_version": 3, "shadow": shadow})


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with live_site(tmp_path, {"qe1": "quality_engineer"}) as st:
        with transaction(st.sessions) as s:
            shas = {}
            for version in (LIVE, SHADOW):
                folder = MODELS / version
                meta = json.loads((folder / "metadata.json").read_text())
                read, _new = registry.register(
                    session=s, blobs=st.blobs, onnx=(folder / "model.onnx").read_bytes(), metadata=meta,
                    card="", evaluation=None, actor="qe1",
                )  # fmt: skip
                shas[version] = read.sha256
            registry.assign(session=s, station="STR-EL-01", name="el-cell-classifier", version=LIVE, role=Role.LIVE,
                            actor="qe1", reason="line start")  # fmt: skip
            registry.assign(session=s, station="STR-EL-01", name="el-cell-classifier", version=SHADOW, role=Role.SHADOW,
                            actor="qe1", reason="trial beside 1.1.0")  # fmt: skip
            envs = [
                _with_shadow(result("MMP0000001", 1, ng=[(1, 3, "crack")])[0], {3}, shas),  # both call it
                _with_shadow(result("MMP0000002", 1, ng=[(1, 7, "crack")])[0], set(), shas),  # only the live one
                _with_shadow(result("MMP0000003", 1)[0], set(), shas),
            ]
            ingest(s, envs, st.device_row)
        yield st


def _live_at(site: Site) -> str:
    with transaction(site.sessions) as s:
        return next(a.version for a in registry.in_force(session=s) if a.station == "STR-EL-01" and a.role is Role.LIVE)


@pytest.mark.parametrize(("locale", "screen"), [("zh-CN", STATION), ("en-US", STATION), ("zh-CN", OFFICE)])
def test_the_stations_models_and_their_comparison_fit_the_screen(
    site: Site, browser, locale: str, screen: dict[str, int]
) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "qe1", locale=locale, viewport=screen)
    page.goto(f"{site.url}/models")
    row = page.locator("#station-STR-EL-01")
    assert LIVE in row.locator("td.live").inner_text() and SHADOW in row.locator("td.shadow").inner_text()
    comparison = page.locator("#comparison tbody tr")
    assert comparison.count() == 2  # the live and the shadow model on the same 3 images
    agreement = page.locator("#agreement").inner_text()  # image 2: only the live model calls its cell 7
    assert "3" in agreement and "66.7 %" in agreement and "97.2 %" in agreement
    assert page.locator("#versions tbody tr").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= screen["width"]  # nothing off to the right
    if locale == "zh-CN":
        text = page.locator("main").inner_text()
        assert "影子" in text and "Promote" not in text and "Roll back" not in text
    page.screenshot(path=str(ARTIFACTS / f"models-{locale}-{screen['width']}.png"), full_page=True)


def test_promote_and_roll_back_are_confirmed_acknowledged_and_audited(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    page = sign_in(browser, site.url, "qe1")
    page.goto(f"{site.url}/models")
    promote = page.locator("#station-STR-EL-01 form.promote")
    promote.locator("input[name=reason]").fill("fewer false calls in the trial")
    page.once("dialog", lambda d: d.dismiss())  # the person says no: nothing changes
    promote.locator("button[type=submit]").click()
    page.wait_for_timeout(300)
    assert _live_at(site) == LIVE
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        promote.locator("button[type=submit]").click()
    assert SHADOW in page.locator("#models-done").inner_text() and _live_at(site) == SHADOW
    assert page.locator("#station-STR-EL-01 form.promote").count() == 0  # promoted: no shadow left to promote

    back = page.locator("#station-STR-EL-01 form.rollback")
    back.locator("input[name=reason]").fill("operators report misses")
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        back.locator("button[type=submit]").click()
    assert LIVE in page.locator("#models-done").inner_text() and _live_at(site) == LIVE

    put = page.locator("#station-STR-EL-01 form.put")  # the reason is required: a refused form changes nothing
    put.locator("select[name=version]").select_option(f"el-cell-classifier {SHADOW}")
    put.locator("input[name=reason]").fill("again in shadow")
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        put.locator("button[type=submit]").click()
    assert SHADOW in page.locator("#station-STR-EL-01 td.shadow").inner_text()
    page.screenshot(path=str(ARTIFACTS / "models-after-rollback.png"), full_page=True)
    with transaction(site.sessions) as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("model.%")).order_by(AuditEntry.id)).all()
    assert actions[-3:] == ["model.promote", "model.rollback", "model.shadow"]
