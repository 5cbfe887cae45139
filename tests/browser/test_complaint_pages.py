"""Customer service opens a complaint, a quality engineer walks its 8D to closure, the report exports as PDF (headless Chromium)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from pypdf import PdfReader

from services.complaints import eight_d
from services.core.db import transaction
from tests.conftest import ARTIFACTS
from tests.support.browser import live_site, sign_in
from tests.support.factories import ingest, result

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
TEXT = {  # what the quality engineer types into each discipline
    "D0": {"f_actions": "Stopped shipments of WO-7", "f_customer_informed": "J. Doe by phone"},
    "D1": {"f_champion": "Plant manager", "f_leader": "qe1", "f_members": "qe1\nprocess engineer\ncs1"},
    "D2": {
        "f_what": "Micro cracks",
        "f_where": "Site 1 row 4",
        "f_when": "Installation",
        "f_who": "Installer",
        "f_why": "Power loss",
        "f_how": "Field EL",
        "f_how_many": "2 modules",
        "f_is_is_not": "lot | CL-1 | CL-2",
    },
    "D3": {"f_actions": "Hold WIP and stock, re-test", "f_verification": "EL re-test of every suspect"},
    "D4": {
        "f_occurrence_cause": "Stringer pressure",
        "f_occurrence_verification": "DOE",
        "f_escape_point": "String EL",
        "f_escape_cause": "Threshold",
        "f_escape_verification": "Stored images re-run",
    },
    "D5": {"f_actions": "Pressure limit\nLower threshold", "f_verification": "Trial 500 strings"},
    "D6": {"f_implementation": "Done", "f_validation": "4 weeks clean"},
    "D7": {
        "f_pfmea": "PFMEA rev 7",
        "f_control_plan": "CP rev 4",
        "f_work_instructions": "WI-12",
        "f_lessons_learned": "LL-3",
        "f_similar_products": "All 210 lines",
    },
    "D8": {"f_customer_acceptance": "Accepted by J. Doe"},
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    with live_site(tmp_path, {"cs1": "customer_service", "qe1": "quality_engineer"}) as st:
        with transaction(st.sessions) as s:
            ingest(s, [result("MCP0000001", 1)[0], result("MCP0000002", 1)[0]], st.device_row)
        yield st.url


def photo(tmp_path: Path) -> Path:
    img = np.full((300, 400, 3), 200, np.uint8)
    cv2.line(img, (20, 30), (380, 270), (40, 40, 40), 4)
    path = tmp_path / "field-el.png"
    cv2.imwrite(str(path), img)
    return path


def test_open_a_complaint_walk_the_8d_to_closure_and_export_the_report(site: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cs = sign_in(browser, site, "cs1")
    cs.goto(f"{site}/complaints")
    cs.fill("#new-complaint input[name=customer]", "SolarCo")
    cs.fill("#new-complaint input[name=project]", "Project Sun")
    cs.fill("#new-complaint input[name=site]", "Site 1")
    cs.select_option("#new-complaint select[name=symptom]", "cell_crack")
    cs.fill("#new-complaint textarea[name=description]", "Cracks found by field EL after installation.")
    cs.fill("#new-complaint textarea[name=barcodes]", "MCP0000001, MCP0000002\nMUNKNOWN99")
    cs.set_input_files("#new-complaint input[name=attachments]", str(photo(tmp_path)))
    cs.screenshot(path=str(ARTIFACTS / "complaint-new.png"), full_page=True)
    with cs.expect_navigation():
        cs.click("#new-complaint button[type=submit]")
    assert "Complaint C-" in cs.locator("h1").inner_text()
    assert "MUNKNOWN99" in cs.locator("#unknown-barcodes").inner_text()  # listed, not dropped
    case_url = cs.locator("#case-link").get_attribute("href")
    cs.goto(f"{site}/complaints")
    assert case_url and case_url.split("/")[-1] in cs.locator("#open-cases").inner_text()
    assert case_url.split("/")[-1] in cs.locator("#my-cases").inner_text()  # the case she opened is hers to follow

    qe = sign_in(browser, site, "qe1", viewport={"width": 1366, "height": 768})
    qe.goto(f"{site}{case_url}")
    # The stepper: D0 is the step to work, the others fold; every step is one click away.
    assert qe.locator("#step-D0").get_attribute("aria-current") == "step" and qe.locator("#D0").get_attribute("open") is not None
    assert qe.locator("#D1").get_attribute("open") is None and qe.locator("#D1 form").is_hidden()
    qe.screenshot(path=str(ARTIFACTS / "8d-stepper.png"))
    qe.click("#step-D3")
    assert qe.locator("#d3-suspects").is_visible()  # traceability proposes the suspect population
    # Completing D1 before D0 is refused with a clear message next to D1's form; what was typed is kept.
    qe.click("#step-D1")
    qe.locator("#D1 [name=f_champion]").fill("Plant manager")
    with qe.expect_navigation():
        qe.click("#D1 button[value=complete]")
    err = qe.locator("#D1 #case-error")
    assert "Saved, but not completed" in err.inner_text() and "comes after D0" in err.inner_text() and err.is_visible()
    assert qe.locator("#D1 [name=f_champion]").input_value() == "Plant manager"
    qe.screenshot(path=str(ARTIFACTS / "8d-refused.png"))
    # The owner is picked from the people who may own a discipline (no operator, no free text).
    owners = qe.locator("#D1 select[name=owner] option").all_inner_texts()
    assert any(o.startswith("qe1") for o in owners) and any(o.startswith("cs1") for o in owners) and len(owners) == 3
    qe.goto(f"{site}{case_url}")
    for code in eight_d.CODES:
        assert qe.locator(f"#step-{code}").get_attribute("aria-current") == "step", code  # the next open one
        form = qe.locator(f"#{code} form")
        form.locator("select[name=owner]").select_option("qe1")
        for name, value in TEXT[code].items():
            form.locator(f"[name={name}]").fill(value)
        if code == "D3":
            for loc in eight_d.LOCATIONS:
                for k, v in (("suspect", "2"), ("checked", "2"), ("bad", "1" if loc == "customer" else "0")):
                    form.locator(f"[name=c_{loc}_{k}]").fill(v)
                form.locator(f"[name=c_{loc}_verified]").check()
        if code == "D6":
            form.locator("[name=f_containment_removed]").check()
        with qe.expect_navigation():
            form.locator("button[value=complete]").click()
        assert qe.locator("#case-error").count() == 0, qe.locator("#case-error").inner_text()
        assert f"{code} completed" in qe.locator("#case-done").inner_text()
    assert qe.locator("#case-status").inner_text() == "closed"
    qe.screenshot(path=str(ARTIFACTS / "8d-closed.png"), full_page=True)
    html = qe.request.get(f"{site}/api/v1{case_url}/report.html")
    assert html.ok and all(f"{d.code} {d.title}" in html.text() for d in eight_d.DISCIPLINES)
    pdf = qe.request.get(f"{site}/api/v1{case_url}/report.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    (ARTIFACTS / "8d-report.pdf").write_bytes(pdf.body())
    reader = PdfReader(io.BytesIO(pdf.body()))
    text = " ".join(page.extract_text() for page in reader.pages)
    for d in eight_d.DISCIPLINES:
        assert f"{d.code} {d.title}" in text.replace("\n", " "), d.code
    assert "Stringer pressure" in text and "MCP0000001" in text and "MUNKNOWN99" in text
    assert sum(len(p.images) for p in reader.pages) >= 1  # the field EL photo is in the report
    qe.goto(f"{site}/ppm")
    assert qe.locator("svg.chart").count() >= 2 and "Definition v1" in qe.locator("#definition").inner_text()
    qe.screenshot(path=str(ARTIFACTS / "ppm.png"), full_page=True)
