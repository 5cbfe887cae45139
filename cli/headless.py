"""Headless Chromium for the benchmarks that time a page: Debian's chromium driven by Playwright, signed in."""

from __future__ import annotations

from typing import Any


def signed_in_page(pw: Any, chromium: str, base: str, user: str, password: str, viewport: dict[str, int]) -> tuple[Any, Any]:
    """(browser, page) with `user` signed in through the login form; close the browser when done."""
    browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    page = browser.new_page(viewport=viewport)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return browser, page
