"""Fixtures of the integration tests: the app over HTTP with users of every role and one device."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings
from services.devices.service import provision_device
from services.imagestore.store import DirectoryBlobStore, store_image
from services.ingest.store import store_batch
from services.security.service import create_user
from tests.conftest import SECRET
from tests.support.factories import make_envelope
from tests.support.http import PASSWORD, ROLES


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> TestClient:
    """The app on a fresh database: one user per role, device edge-t1 with 14 results stored (2 NG)."""
    settings = ApiSettings(profile="test", database_url=db_url, secret_key=SECRET, data_dir=tmp_path)
    app = create_app(settings)
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        for role in ROLES:
            create_user(session=s, username=role, password=PASSWORD, role=role)
        cred = provision_device(session=s, code="edge-t1", station_code="STR-EL-01", master_secret=SECRET.encode())
        mes = provision_device(session=s, code="mes-1", station_code="MES", master_secret=SECRET.encode(), role="mes")
        dev_id = s.execute(text("select id from device where code='edge-t1'")).scalar_one()
        items = []
        blobs = DirectoryBlobStore(settings.resolved_image_dir())
        for i in range(14):
            env, png = make_envelope("edge-t1", i)
            items.append((env, dev_id))
            store_image(session=s, blobs=blobs, data=png, expected_sha256=env.image.sha256)
        store_batch(session=s, items=items, loop_limit=2)
    c = TestClient(app)
    c.device_key = cred.api_key  # type: ignore[attr-defined]
    c.mes_key = mes.api_key  # type: ignore[attr-defined]
    return c
