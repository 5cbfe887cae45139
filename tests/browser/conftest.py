"""Headless Chromium for the page tests: Debian's package, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

PASSWORD = "correct horse battery"


def chromium_path() -> str:
    """Debian's chromium (installed by ./run test); the suite fails rather than skips without it."""
    path = os.environ.get("ELTRACE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium not found: ./run test installs Debian's chromium (apt-get install chromium)")
    return path


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


def sign_in(browser, url: str, user: str):  # type: ignore[no-untyped-def]
    """A new page, signed in by keyboard only (the username field has autofocus)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{url}/login")
    page.wait_for_selector("input[name=username]:focus")  # autofocus: keyboard only from here on
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/")
    return page
