"""The model registry and the edge's switch (issue 15, item 3): register, promote, roll back, refuse a bad file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from edge.api_client import EdgeApiClient
from edge.modelsync import ModelSync
from edge.pipeline import Inspector
from edge.training.synthetic import generate_string, write_string
from edge.wiring import load_inspector
from edge.worker import FolderWorker
from services.audit.orm import AuditEntry
from services.contracts import ResultEnvelope, canonical_json
from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.settings import ApiSettings
from services.devices.orm import Device
from services.imagestore.store import DirectoryBlobStore
from services.registry.service import register
from tests.conftest import SECRET
from tests.support.edge import folder_worker
from tests.support.http import token
from tests.support.tiny_model import build_tiny_model

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]
STATION = "STR-EL-01"


def _meta(folder: Path) -> dict[str, object]:
    model = onnx.load(str(folder / "model.onnx"))
    return json.loads(next(p.value for p in model.metadata_props if p.key == "eltrace"))  # type: ignore[no-any-return]


def _register(db_url: str, data_dir: Path, folder: Path) -> None:
    blobs = DirectoryBlobStore(ApiSettings(profile="test", database_url=db_url, data_dir=data_dir).resolved_image_dir())
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        register(
            session=s,
            blobs=blobs,
            onnx=(folder / "model.onnx").read_bytes(),
            metadata=_meta(folder),
            card="",
            evaluation=None,
            actor="qe",
        )


def _edge(client: TestClient, tmp_path: Path, signing_key: bytes) -> tuple[FolderWorker, ModelSync]:
    def load(folder: Path) -> Inspector:
        return load_inspector(folder, device_id="edge-t1", station_id=STATION)

    worker = folder_worker(load(build_tiny_model(tmp_path / "local" / "a", version="0.0.1-a")), tmp_path / "edge")
    api = EdgeApiClient("http://testserver", client.device_key)  # type: ignore[attr-defined]
    api.http = client  # the app in-process over its ASGI door, the device key on every call
    client.headers["X-Device-Key"] = client.device_key  # type: ignore[attr-defined]
    sync = ModelSync(
        api=api,
        worker=worker,
        models_dir=tmp_path / "edge" / "models",
        device_id="edge-t1",
        signing_key=signing_key,
        load=load,
        state_path=tmp_path / "edge" / "model.json",
    )
    return worker, sync


def _judge(worker: FolderWorker, barcode: str, seed: int) -> str:
    img, truth = generate_string(seed, recipe="full-1x12", defect_rate=0.0, megapixels=0.3)
    write_string(worker.watch_dir / f"{barcode}_S1.png", img, truth, barcode=barcode, string_position=1)
    assert worker.scan_once() == 1
    rows = [ResultEnvelope.model_validate_json(r.body) for r in worker.outbox.due(limit=100, resend_after_s=0, now=1e12)]
    return next(e.model.version for e in rows if e.barcode == barcode)


def test_promote_switches_the_edge_rollback_returns_and_a_tampered_file_is_refused(
    client: TestClient, db_url: str, tmp_path: Path
) -> None:
    kid = client.get("/api/v1/edge/whoami", headers={"X-Device-Key": client.device_key}).json()["key_id"]  # type: ignore[attr-defined]
    from services.contracts import derive_signing_key

    key = derive_signing_key(SECRET.encode(), "edge-t1", kid)
    a = build_tiny_model(tmp_path / "reg" / "a", version="0.0.1-a")
    b = build_tiny_model(tmp_path / "reg" / "b", version="0.0.2-b", threshold=0.4)
    for folder in (a, b):
        _register(db_url, tmp_path, folder)
    qe = token(client, "quality_engineer")
    versions = client.get("/api/v1/models", headers=qe).json()
    assert {v["version"] for v in versions} == {"0.0.1-a", "0.0.2-b"} and all(v["live_at"] == [] for v in versions)
    worker, sync = _edge(client, tmp_path, key)
    assert sync.check_once() == "none"  # nothing assigned: the station keeps its own model
    assert _judge(worker, "MSW0000001", 1) == "0.0.1-a"

    url = f"/api/v1/stations/{STATION}/models"
    for version in ("0.0.1-a", "0.0.2-b"):
        body = {"name": "tiny-test-model", "version": version, "reason": f"line trial of {version}"}
        assert client.post(url, headers=qe, json=body).status_code == 201
    assert client.post(url, headers=qe, json=body).status_code == 409  # already live there
    assert sync.check_once() == "switched"  # B, downloaded, sha256-checked, loaded between two images
    assert _judge(worker, "MSW0000002", 2) == "0.0.2-b"
    assert (tmp_path / "edge" / "models" / "tiny-test-model" / "0.0.2-b" / "model.onnx").is_file()
    assert sync.check_once() == "same"

    r = client.post(f"{url}/rollback", headers=qe, json={"reason": "B calls too many cells"})
    assert r.status_code == 200 and r.json()["version"] == "0.0.1-a"
    assert sync.check_once() == "switched" and _judge(worker, "MSW0000003", 3) == "0.0.1-a"  # within one image
    history = client.get(url, headers=qe).json()
    assert [(h["version"], h["until"] is None) for h in history] == [("0.0.1-a", True), ("0.0.2-b", False), ("0.0.1-a", False)]
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("model.%")).order_by(AuditEntry.id)).all()
    assert actions == ["model.register", "model.register", "model.promote", "model.promote", "model.rollback"]

    # A tampered file in the store: the bytes do not hash to the signed sha256, B is refused, A keeps judging.
    b_sha = next(v["sha256"] for v in versions if v["version"] == "0.0.2-b")
    store = DirectoryBlobStore(ApiSettings(profile="test", database_url=db_url, data_dir=tmp_path).resolved_image_dir())
    path = store._path(b_sha)
    path.write_bytes(path.read_bytes()[:-8] + b"tampered")
    (tmp_path / "edge" / "models" / "tiny-test-model" / "0.0.2-b" / "model.onnx").unlink()  # force a download
    assert (
        client.post(url, headers=qe, json={"name": "tiny-test-model", "version": "0.0.2-b", "reason": "again"}).status_code == 201
    )
    answer = sync.check_once()
    assert answer.startswith("refused") and "hashes to" in answer
    assert _judge(worker, "MSW0000004", 4) == "0.0.1-a"
    state = json.loads((tmp_path / "edge" / "model.json").read_text())
    assert state["live"] == "tiny-test-model 0.0.1-a" and "hashes to" in state["refused"]

    # An assignment signed with another key (not this device's) is refused too.
    wrong = ModelSync(
        api=sync.api, worker=worker, models_dir=sync.models_dir, device_id="edge-t1", signing_key=b"x" * 32, load=sync.load,
        state_path=tmp_path / "edge" / "model2.json",
    )  # fmt: skip
    assert wrong.check_once() == "refused: assignment refused: model assignment signature does not match"
    assert worker.inspector.model_ref.version == "0.0.1-a"


def test_the_register_command_registers_a_model_folder_once(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "ELTRACE_DATABASE_URL": db_url, "ELTRACE_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "cli.main", "model", "register", str(ROOT / "models" / "el-cell-classifier" / "1.1.0")]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "1.1.0 registered" in first.stdout + first.stderr, first.stderr[-2000:]
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already registered" in again.stdout + again.stderr
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        assert s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "model.register")) == 1


def test_a_shadow_model_judges_beside_the_live_one_and_the_report_compares_them(
    client: TestClient, db_url: str, tmp_path: Path
) -> None:
    kid = client.get("/api/v1/edge/whoami", headers={"X-Device-Key": client.device_key}).json()["key_id"]  # type: ignore[attr-defined]
    from services.contracts import derive_signing_key
    from services.ingest.store import store_batch

    key = derive_signing_key(SECRET.encode(), "edge-t1", kid)
    a = build_tiny_model(tmp_path / "reg" / "a", version="0.0.1-a")
    b = build_tiny_model(tmp_path / "reg" / "b", version="0.0.2-b", threshold=0.4)
    for folder in (a, b):
        _register(db_url, tmp_path, folder)
    qe = token(client, "quality_engineer")
    url = f"/api/v1/stations/{STATION}/models"
    assert (
        client.post(url, headers=qe, json={"name": "tiny-test-model", "version": "0.0.1-a", "reason": "live"}).status_code == 201
    )
    body = {"name": "tiny-test-model", "version": "0.0.1-a", "role": "shadow", "reason": "shadow of itself"}
    assert client.post(url, headers=qe, json=body).status_code == 409  # a shadow must be another model
    body = {**body, "version": "0.0.2-b", "reason": "trial beside A"}
    assert client.post(url, headers=qe, json=body).status_code == 201
    worker, sync = _edge(client, tmp_path, key)
    assert sync.check_once() == "same" and sync.state.shadow == "tiny-test-model 0.0.2-b"

    # Two strings, one with a dark (dead) cell: the live verdict acts, the shadow's rides along (v3).
    envs = []
    for i, barcode in enumerate(("MSH0000001", "MSH0000002")):
        img, truth = generate_string(10 + i, recipe="full-1x12", defect_rate=0.0, megapixels=0.3)
        if i == 1:
            x, y, w, h = truth.cells[4].box
            img[y + 4 : y + h - 4, x + 4 : x + w - 4] = 0
        write_string(worker.watch_dir / f"{barcode}_S1.png", img, truth, barcode=barcode, string_position=1)
        assert worker.scan_once() == 1
    for row in worker.outbox.due(limit=100, resend_after_s=0, now=1e12):
        env = ResultEnvelope.model_validate_json(row.body)
        assert env.schema_version == 3 and env.shadow is not None and env.shadow.model.version == "0.0.2-b"
        assert env.model.version == "0.0.1-a" and len(env.shadow.cells) == 12
        envs.append(env)
    dark = next(e for e in envs if e.barcode == "MSH0000002")
    assert dark.verdict == "NG" and (1, 5) in {(c.row, c.col) for c in dark.cells if c.ng}
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        dev = s.scalar(select(Device.id).where(Device.code == "edge-t1"))
        store_batch(session=s, items=[(e, dev) for e in envs], loop_limit=2)
    # The floor says the dark cell was a false call (say the image was taken with the cell masked).
    op = token(client, "operator")
    d = client.get("/api/v1/rework/MSH0000002", headers=op).json()["defects"][0]
    fc = {"defect_id": d["defect_id"], "disposition": "false_call", "station": "RW-01"}
    assert client.post(f"/api/v1/rework/loops/{d['loop_id']}/dispositions", headers=op, json=fc).status_code == 200

    r = client.get(f"{url}/compare", headers=qe)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["images"] == 2 and rep["verdict_agreement"] is not None and rep["cell_agreement"] is not None
    (live,), (shadow,) = rep["live"], rep["shadow"]
    assert (live["version"], shadow["version"], live["cells"], shadow["cells"]) == ("0.0.1-a", "0.0.2-b", 24, 24)
    assert (live["labelled_ok"], live["false_calls"], live["auto_ng_false_calls"]) == (1, 1, 1)
    assert shadow["labelled_ok"] == 1 and shadow["ms_p50"] is not None and shadow["errors"] == 0
    # Stopping the shadow: the next result is v2 again, byte for byte what a station without one sends.
    assert (
        client.post(url, headers=qe, json={"name": "tiny-test-model", "version": "0.0.2-b", "reason": "promote B"}).status_code
        == 201
    )
    assert sync.check_once() == "switched" and sync.state.shadow == ""  # B promoted: it no longer shadows itself
    img, truth = generate_string(30, recipe="full-1x12", defect_rate=0.0, megapixels=0.3)
    write_string(worker.watch_dir / "MSH0000003_S1.png", img, truth, barcode="MSH0000003", string_position=1)
    assert worker.scan_once() == 1
    last = [ResultEnvelope.model_validate_json(r.body) for r in worker.outbox.due(limit=100, resend_after_s=0, now=1e12)]
    third = next(e for e in last if e.barcode == "MSH0000003")
    assert third.schema_version == 2 and third.shadow is None and third.model.version == "0.0.2-b"
    assert b'"shadow"' not in canonical_json(third)


def test_a_shadow_is_stopped_by_a_quality_engineer_and_the_edge_stops_running_it(
    client: TestClient, db_url: str, tmp_path: Path
) -> None:
    kid = client.get("/api/v1/edge/whoami", headers={"X-Device-Key": client.device_key}).json()["key_id"]  # type: ignore[attr-defined]
    from services.contracts import derive_signing_key

    for version in ("0.0.1-a", "0.0.2-b"):
        _register(db_url, tmp_path, build_tiny_model(tmp_path / "reg" / version, version=version))
    qe, op = token(client, "quality_engineer"), token(client, "operator")
    url = f"/api/v1/stations/{STATION}/models"
    for version, role in (("0.0.1-a", "live"), ("0.0.2-b", "shadow")):
        body = {"name": "tiny-test-model", "version": version, "role": role, "reason": f"{role} trial"}
        assert client.post(url, headers=qe, json=body).status_code == 201
    _worker, sync = _edge(client, tmp_path, derive_signing_key(SECRET.encode(), "edge-t1", kid))
    assert sync.check_once() == "same" and sync.state.shadow == "tiny-test-model 0.0.2-b"

    assert client.post(f"{url}/shadow/stop", headers=op, json={"reason": "not mine"}).status_code == 403
    r = client.post(f"{url}/shadow/stop", headers=qe, json={"reason": "trial over"})
    assert r.status_code == 200 and r.json()["version"] == "0.0.2-b" and r.json()["until"] is not None
    assert sync.check_once() == "same" and sync.state.shadow == ""  # the live model stays; the shadow ends in one poll
    again = client.post(f"{url}/shadow/stop", headers=qe, json={"reason": "trial over"})
    assert again.status_code == 404 and "no shadow" in again.json()["detail"]
    live = [h for h in client.get(url, headers=qe).json() if h["until"] is None]
    assert [(h["version"], h["role"]) for h in live] == [("0.0.1-a", "live")]  # the live model is untouched
    with transaction(make_sessionmaker(make_engine(db_url))) as s:
        stops = s.scalars(select(AuditEntry.reason).where(AuditEntry.action == "model.shadow_stop")).all()
    assert stops == ["trial over"]
