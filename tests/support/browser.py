"""Browser-test support: a live site (API + database) on loopback, Debian's chromium, signing in."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from cli.servers.http import ServerThread, free_port
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings
from services.devices.orm import Device
from services.devices.service import provision_device
from services.imagestore.store import DirectoryBlobStore
from services.migrations.runner import upgrade
from services.security.service import create_user
from tests.conftest import SECRET

PASSWORD = "correct horse battery"


@dataclass
class Site:
    """A migrated SQLite database, users, one edge device and the API on loopback."""

    url: str
    sessions: sessionmaker[Session]
    device_row: int
    blobs: DirectoryBlobStore


@contextmanager
def live_site(tmp_path: Path, users: dict[str, str]) -> Iterator[Site]:
    """Serve the app for a browser; `users` maps name -> role (password PASSWORD)."""
    db = f"sqlite:///{tmp_path / 'eltrace.db'}"
    upgrade(db)
    settings = ApiSettings(profile="test", database_url=db, secret_key=SECRET, data_dir=tmp_path / "api")
    sessions = make_sessionmaker(make_engine(db))
    blobs = DirectoryBlobStore(settings.resolved_image_dir())
    blobs.root.mkdir(parents=True, exist_ok=True)
    with transaction(sessions) as s:
        for user, role in users.items():
            create_user(session=s, username=user, password=PASSWORD, role=role)
        provision_device(session=s, code="edge-t1", station_code="STR-EL-01", master_secret=SECRET.encode())
        dev = int(s.scalar(select(Device.id)) or 0)
    port = free_port()
    server = ServerThread(create_app(settings), "127.0.0.1", port)
    server.start_and_wait()
    try:
        yield Site(f"http://127.0.0.1:{port}", sessions, dev, blobs)
    finally:
        server.stop()


def chromium_path() -> str:
    """Debian's chromium (installed by ./run test); the suite fails rather than skips without it."""
    path = os.environ.get("ELTRACE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium not found: ./run test installs Debian's chromium (apt-get install chromium)")
    return path


# The floor's screens: the station's 1366 x 768 and the office's 1920 x 1080.
STATION = {"width": 1366, "height": 768}
OFFICE = {"width": 1920, "height": 1080}


def sign_in(browser, url: str, user: str, *, locale: str = "en-US", viewport: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
    """A new page in a browser set to `locale` and the plant's time zone, signed in by keyboard only."""
    context = browser.new_context(viewport=viewport or STATION, locale=locale, timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.goto(f"{url}/login")
    page.wait_for_selector("input[name=username]:focus")  # autofocus: keyboard only from here on
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/")
    return page


def el_image(w: int = 1200, h: int = 200, cols: int = 12) -> bytes:
    """A plain string EL picture: bright cells, dark gaps, a dark crack line in cells 3 and 8."""
    img = np.full((h, w), 25, np.uint8)
    cw = w // cols
    for c in range(cols):
        img[6 : h - 6, c * cw + 4 : (c + 1) * cw - 4] = 170
    for c in (2, 7):
        cv2.line(img, (c * cw + 15, 30), (c * cw + cw - 20, h - 40), 40, 3)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def inside(page, selector: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the first element matching `selector` lies wholly inside the viewport."""
    box = page.locator(selector).first.bounding_box()
    vp = page.viewport_size
    return bool(
        box
        and vp
        and box["y"] >= 0
        and box["x"] >= 0
        and box["y"] + box["height"] <= vp["height"]
        and box["x"] + box["width"] <= vp["width"]
    )
