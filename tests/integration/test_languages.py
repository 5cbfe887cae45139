"""Pages speak the reader's language (browser default, the person's choice, kept with the user), show plant
time, and the 8D PDF keeps every Chinese character or refuses loudly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from tests.support.http import PASSWORD, token

ZH = {"Accept": "text/html", "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept": "text/html", "Accept-Language": "en-US,en;q=0.9"}
CUSTOMER = "隆基绿能 (LONGi)"
DESCRIPTION = "现场 EL 发现隐裂，第 4 排组件功率下降"


def _csrf(client: TestClient, url: str, headers: dict[str, str]) -> str:
    return client.get(url, headers=headers).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _sign_in(client: TestClient, user: str, headers: dict[str, str]) -> None:
    form = {"username": user, "password": PASSWORD, "csrf_token": _csrf(client, "/login", headers), "next": "/"}
    assert client.post("/login", data=form, headers=headers, follow_redirects=False).status_code == 303


def test_the_browser_language_is_the_default_and_raw_codes_never_show(client: TestClient) -> None:
    zh = client.get("/login", headers=ZH)
    assert '<html lang="zh-CN">' in zh.text and "登录" in zh.text and "Sign in" not in zh.text
    en = client.get("/login", headers=EN)
    assert '<html lang="en">' in en.text and "Sign in" in en.text and "登录" not in en.text
    _sign_in(client, "operator", ZH)
    ng = client.get("/api/v1/inspections", params={"verdict": "NG"}, headers=token(client, "operator")).json()["items"][0]
    station = client.get("/rework", params={"barcode": ng["barcode"], "station": "RW-01"}, headers=ZH)
    assert station.status_code == 200
    assert "NG - 返工" in station.text and "个缺陷待处置" in station.text and "已补焊" in station.text
    assert "NG - REWORK" not in station.text and "defect(s) to disposition" not in station.text
    assert "时间均为工厂时间：Asia/Shanghai, UTC+08:00" in client.get("/", headers=ZH).text


def test_the_choice_is_kept_by_the_browser_and_by_the_person(client: TestClient) -> None:
    _sign_in(client, "quality_engineer", ZH)
    form = {"locale": "en", "csrf_token": _csrf(client, "/holds", ZH), "next": "/holds"}
    r = client.post("/language", data=form, headers=ZH, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/holds"
    assert "Modules on hold" in client.get("/holds", headers=ZH).text  # the choice beats the browser's zh-CN
    fresh = TestClient(client.app)  # another terminal, a Chinese browser: signing in brings the person's English
    _sign_in(fresh, "quality_engineer", ZH)
    assert fresh.cookies.get("eltrace_lang") == "en" and "Modules on hold" in fresh.get("/holds", headers=ZH).text
    bad = {"locale": "xx", "csrf_token": _csrf(client, "/holds", ZH)}
    assert client.post("/language", data=bad, headers=ZH, follow_redirects=False).status_code == 400
    assert client.post("/language", data={"locale": "zh_CN"}, headers=ZH, follow_redirects=False).status_code == 403


def _case_with_chinese(client: TestClient) -> str:
    body = {
        "customer": CUSTOMER,
        "project": "青海 200 MW",
        "site": "格尔木",
        "received_at": "2026-11-20T09:00:00+08:00",
        "channel": "email",
        "symptom": "cell_crack",
        "severity": "major",
        "description": DESCRIPTION,
        "barcodes": ["M000000001"],
    }
    r = client.post("/api/v1/complaints", json=body, headers=token(client, "customer_service"))
    assert r.status_code == 201, r.text
    return str(r.json()["complaint"]["case"])


def test_the_8d_pdf_keeps_every_chinese_character(client: TestClient) -> None:
    case = _case_with_chinese(client)
    headers = {**token(client, "quality_engineer"), "Accept-Language": "zh-CN"}
    pdf = client.get(f"/api/v1/8d/{case}/report.pdf", headers=headers)
    assert pdf.status_code == 200, pdf.text
    reader = PdfReader(io.BytesIO(pdf.content))
    # pypdf reads a NUL between glyphs of the CJK fallback font; the characters themselves are all there
    text = "".join(p.extract_text() for p in reader.pages).replace("\x00", "").replace("\n", "").replace(" ", "")
    for s in (CUSTOMER, DESCRIPTION, "青海200MW", "格尔木", "8D报告", "紧急响应", "电池片隐裂"):
        assert s.replace(" ", "") in text, s
    assert reader.metadata is not None and case in str(reader.metadata.title)


def test_without_a_cjk_font_the_pdf_is_refused_not_emptied(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _case_with_chinese(client)
    latin_only = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # a real font with no Chinese glyphs
    monkeypatch.setenv("ELTRACE_PDF_CJK_FONT", str(latin_only))
    r = client.get(f"/api/v1/8d/{case}/report.pdf", headers=token(client, "quality_engineer"))
    assert r.status_code == 503 and r.json()["error"] == "report_font_missing", r.text
    assert "隆" in r.json()["detail"] and "fonts-noto-cjk" in r.json()["detail"]


def test_a_refusal_is_said_in_the_readers_language_next_to_its_form(client: TestClient) -> None:
    case = _case_with_chinese(client)
    _sign_in(client, "quality_engineer", ZH)
    form = {"csrf_token": _csrf(client, f"/8d/{case}", ZH), "f_champion": "厂长", "action": "complete"}
    r = client.post(f"/8d/{case}/disciplines/D1", data=form, headers=ZH)
    assert r.status_code == 200 and "step=D1" in str(r.url)
    section = r.text.split('id="D1"', 1)[1].split("</details>", 1)[0]  # the message is in D1's own section
    assert "已保存，但未完成：D1 须在 D0 之后：请先完成它们" in section
    assert "comes after" not in r.text and 'value="厂长"' not in r.text and "厂长</textarea>" in section  # kept
    en = client.post(f"/8d/{case}/disciplines/D1", data={**form, "csrf_token": _csrf(client, f"/8d/{case}", EN)}, headers=EN)
    assert "Saved, but not completed: D1 comes after D0: complete those first" in en.text
    # The JSON API keeps the English text and its code, for scripts.
    api = client.post(f"/api/v1/8d/{case}/disciplines/D1/complete", headers=token(client, "quality_engineer"))
    assert api.status_code == 409 and api.json()["detail"] == "D1 comes after D0: complete those first"


def test_a_refused_field_is_said_in_words_never_as_the_frameworks_json(client: TestClient) -> None:
    _sign_in(client, "quality_engineer", ZH)
    page = client.get("/audit", params={"offset": "-1"}, headers=ZH)
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "列表位置：不能小于 0。" in page.text and "greater_than_equal" not in page.text and '"detail"' not in page.text
    en = client.get("/audit", params={"offset": "x"}, headers=EN)
    assert "position in the list: a whole number." in en.text and "Input should be" not in en.text
    # A form post goes back to its page with the reason in the banner; nothing was decided.
    csrf = _csrf(client, "/holds", ZH)
    back = client.post(
        "/holds/decision",
        data={"csrf_token": csrf, "decision": "scrap", "reason": "x" * 600, "hold_ids": "1"},
        headers={**ZH, "Referer": "http://testserver/holds"},
        follow_redirects=False,
    )
    assert back.status_code == 303 and back.headers["location"].startswith("/holds?error=")
    shown = client.get(back.headers["location"], headers=ZH)
    assert "理由：太长（最多 500 个字符）。" in shown.text
    # The JSON API keeps the framework's 422 for scripts.
    api = client.get("/api/v1/inspections", params={"offset": "-1"}, headers=token(client, "quality_engineer"))
    assert api.status_code == 422 and api.json()["detail"][0]["type"] == "greater_than_equal"


def test_refusals_of_every_service_read_in_the_readers_language(client: TestClient) -> None:
    # Before, only the complaint, 8D, hold and rework services said why in Chinese; the others were English
    # f-strings inside a Chinese page (an unknown barcode, a station without a shadow model, a bad CSV...).
    _sign_in(client, "quality_engineer", ZH)
    unknown = client.get("/modules/NOSUCH0001", headers=ZH)
    assert unknown.status_code == 404 and "未知条码 NOSUCH0001" in unknown.text and "unknown barcode" not in unknown.text
    csrf = _csrf(client, "/models", ZH)
    back = client.post(
        "/models/STR-EL-01/shadow/stop", data={"csrf_token": csrf, "reason": "trial over"}, headers=ZH, follow_redirects=False
    )
    assert back.status_code == 303
    shown = client.get(back.headers["location"], headers=ZH)
    assert "未更改：工位 STR-EL-01 没有运行影子模型" in shown.text and "runs no shadow" not in shown.text
    en = client.get("/modules/NOSUCH0001", headers=EN)
    assert "unknown barcode NOSUCH0001" in en.text
