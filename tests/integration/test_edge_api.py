"""The edge devices' HTTP door: image upload (hash, type, caps), confirmations; body caps follow their settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings
from services.devices.orm import Device
from services.ingest.store import store_batch
from tests.conftest import SECRET
from tests.support.factories import make_envelope
from tests.support.http import token


def test_images_upload_and_download(client: TestClient) -> None:
    dev = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    png = make_envelope("edge-t1", 500)[1]
    sha = hashlib.sha256(png).hexdigest()
    assert client.put(f"/api/v1/edge/images/{'0' * 64}", content=png, headers=dev).status_code == 400  # hash mismatch
    not_img = b"GIF89a-nope"
    assert (
        client.put(f"/api/v1/edge/images/{hashlib.sha256(not_img).hexdigest()}", content=not_img, headers=dev).status_code == 400
    )
    assert client.put(f"/api/v1/edge/images/{sha}", content=png, headers=dev).status_code == 204
    assert client.put(f"/api/v1/edge/images/{sha}", content=png, headers=dev).status_code == 204  # idempotent
    h = token(client, "operator")
    r = client.get(f"/api/v1/images/{sha}", headers=h)
    assert r.status_code == 200 and r.content == png and r.headers["content-type"] == "image/png"
    big = b"\x89PNG\r\n\x1a\n" + bytes(65 * 1024 * 1024)
    assert client.put(f"/api/v1/edge/images/{hashlib.sha256(big).hexdigest()}", content=big, headers=dev).status_code == 413
    # A real 4 MP 16-bit string image is several MiB: above the JSON cap, inside the image cap.
    large = png + bytes(3 * 1024 * 1024)  # PNG magic first; trailing bytes after IEND are kept as they are
    assert client.put(f"/api/v1/edge/images/{hashlib.sha256(large).hexdigest()}", content=large, headers=dev).status_code == 204


def test_body_caps_follow_their_settings(db_url: str, tmp_path: Path) -> None:
    """Each route's cap is the setting it names: raising a setting raises exactly those caps."""
    settings = ApiSettings(
        profile="test",
        database_url=db_url,
        secret_key=SECRET,
        data_dir=tmp_path,
        max_json_bytes=4096,
        max_csv_bytes=8192,
        max_upload_bytes=16384,
    )
    c = TestClient(create_app(settings))

    def status(method: str, path: str, size: int) -> int:
        return c.request(method, path, content=b"x" * size, headers={"Content-Type": "application/octet-stream"}).status_code

    assert status("POST", "/api/v1/containment", 5000) == 413  # JSON route: max_json_bytes
    assert status("POST", "/api/v1/containment", 3000) != 413
    assert status("POST", "/api/v1/imports/products/csv", 9000) == 413  # CSV import: max_csv_bytes
    assert status("POST", "/api/v1/imports/products/csv", 7000) != 413
    assert status("PUT", f"/api/v1/edge/images/{'0' * 64}", 17000) == 413  # image: max_upload_bytes
    assert status("PUT", f"/api/v1/edge/images/{'0' * 64}", 15000) != 413
    assert status("POST", "/api/v1/complaints/C-2026-0001/attachments", 15000) != 413


def test_confirmations_only_report_the_callers_own_stored_results(client: TestClient) -> None:
    dev = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    mine = [make_envelope("edge-t1", i)[0].result_id for i in range(3)]
    unknown = make_envelope("edge-t1", 9999)[0].result_id
    r = client.post("/api/v1/edge/confirmations", json={"result_ids": [*mine, unknown]}, headers=dev)
    assert r.status_code == 200 and sorted(r.json()["stored"]) == sorted(mine)
    assert client.post("/api/v1/edge/confirmations", json={"result_ids": ["x" * 36] * 1001}, headers=dev).status_code == 422


def test_a_result_is_confirmed_only_once_its_image_is_stored_too(client: TestClient, db_url: str) -> None:
    """The edge forgets a result when confirmed: a stored row without its image must not be confirmed yet."""
    dev = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    env, png = make_envelope("edge-t1", 700)
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        device_row = s.scalar(select(Device.id).where(Device.code == "edge-t1"))
        store_batch(session=s, items=[(env, int(device_row))], loop_limit=2)  # the message landed, the upload did not yet
    ask = {"result_ids": [env.result_id]}
    assert client.post("/api/v1/edge/confirmations", json=ask, headers=dev).json()["stored"] == []
    assert client.put(f"/api/v1/edge/images/{env.image.sha256}", content=png, headers=dev).status_code == 204
    assert client.post("/api/v1/edge/confirmations", json=ask, headers=dev).json()["stored"] == [env.result_id]


def test_an_image_the_store_lost_is_not_confirmed_and_is_asked_for_again(client: TestClient, tmp_path: Path) -> None:
    """A stored row whose file is gone (a replaced disk, an older backup) or torn: not confirmed; re-upload heals it."""
    from services.imagestore.store import DirectoryBlobStore

    dev = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    env, png = make_envelope("edge-t1", 3)  # stored with its image by the fixture
    blobs = DirectoryBlobStore(ApiSettings(profile="test", secret_key=SECRET, data_dir=tmp_path).resolved_image_dir())
    ask = {"result_ids": [env.result_id]}
    assert client.post("/api/v1/edge/confirmations", json=ask, headers=dev).json()["stored"] == [env.result_id]
    path = blobs._path(env.image.sha256)  # noqa: SLF001 - the test plays the failing disk
    path.write_bytes(png[: len(png) // 2])  # torn by a power cut before the fsyncs existed
    answer = client.post("/api/v1/edge/confirmations", json=ask, headers=dev).json()
    assert answer["stored"] == [] and answer["reupload"] == [env.image.sha256]
    # The same bytes uploaded again replace the torn file: an existing file is trusted only if it hashes right.
    assert client.put(f"/api/v1/edge/images/{env.image.sha256}", content=png, headers=dev).status_code == 204
    assert path.read_bytes() == png
    assert client.post("/api/v1/edge/confirmations", json=ask, headers=dev).json()["stored"] == [env.result_id]
    path.unlink()
    assert client.post("/api/v1/edge/confirmations", json=ask, headers=dev).json()["reupload"] == [env.image.sha256]


def test_refused_results_are_reported_to_their_own_device_only(client: TestClient, db_url: str) -> None:
    from services.inspection.repository import record_refusals

    dev = {"X-Device-Key": client.device_key}  # type: ignore[attr-defined]
    env = make_envelope("edge-t1", 8000)[0]
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:
        device_row = int(s.scalar(select(Device.id).where(Device.code == "edge-t1")))  # type: ignore[arg-type]
        record_refusals(
            s, [{"device_id": device_row, "result_id": env.result_id, "stream_id": "5-0", "key_id": "k", "reason": "x"}]
        )
        other = provision_device_row(s)
        record_refusals(s, [{"device_id": other, "result_id": env.result_id, "stream_id": "6-0", "key_id": "k", "reason": "y"}])
    answer = client.post("/api/v1/edge/confirmations", json={"result_ids": [env.result_id]}, headers=dev).json()
    assert answer["refused"] == [{"result_id": env.result_id, "stream_id": "5-0", "key_id": "k", "reason": "x"}]


def provision_device_row(session) -> int:  # type: ignore[no-untyped-def]
    """Another station's device (row id)."""
    from services.devices.service import provision_device

    provision_device(session=session, code="edge-t9", station_code="STR-EL-09", master_secret=SECRET.encode())
    return int(session.scalar(select(Device.id).where(Device.code == "edge-t9")))
