"""Headless Chromium for the page tests: Debian's package, driven by Playwright (no browser download)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import chromium_path


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()
