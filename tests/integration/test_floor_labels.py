"""Floor decisions become labelled cells (issue 15, item 2): `eltrace labels export` as CSV and as a folder of crops."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.core.db import make_engine, make_sessionmaker, transaction
from services.imagestore.store import DirectoryBlobStore, store_image
from services.rework.service import undo_last
from tests.support.factories import ingest, later, result
from tests.support.http import token

ROOT = Path(__file__).resolve().parents[2]


def _export(db_url: str, data_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ELTRACE_DATABASE_URL": db_url, "ELTRACE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "labels", "export", "--out", str(out), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _ng_strings(db_url: str, data_dir: Path, ng: dict[str, list[int]], seed: int = 0) -> int:
    """NG strings of 1200 x 100 px (12 cells; barcode -> NG columns) with their images in the store; the device row."""
    sessions = make_sessionmaker(make_engine(db_url))
    blobs = DirectoryBlobStore(data_dir / "images")
    with transaction(sessions) as s:
        dev = int(s.execute(text("select id from device where code='edge-t1'")).scalar_one())
        envs = []
        for i, (barcode, cols) in enumerate(ng.items()):
            img = np.random.default_rng(seed + i).integers(60, 200, (100, 1200), dtype=np.uint8)
            png = cv2.imencode(".png", img)[1].tobytes()
            env, _ = result(barcode, 1, ng=[(1, c, "crack") for c in cols], png=png, size=(1200, 100))
            store_image(session=s, blobs=blobs, data=png, expected_sha256=env.image.sha256)
            envs.append(env)
        ingest(s, envs, dev)
    return dev


def _line(db_url: str, data_dir: Path) -> None:
    """Two NG strings with their images in the store, and a module whose crack final EL finds (an escape)."""
    dev = _ng_strings(db_url, data_dir, {"MFL0000001": [3], "MFL0000002": [4]})
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as s:  # a third module passes string EL; final EL then finds a crack in it
        ingest(s, [result("MFL0000003", 1)[0]], dev)
    with transaction(sessions) as s:
        final = result("MFL0000003", 1, ng=[(1, 7, "crack")], stage="final_el", at=later(90), station="FIN-EL-01")[0]
        ingest(s, [final], dev)


def test_dispositions_become_labels_and_a_taken_back_one_does_not(client: TestClient, db_url: str, tmp_path: Path) -> None:
    _line(db_url, tmp_path)
    op = token(client, "operator")
    ng = [{"barcode": b} for b in ("MFL0000001", "MFL0000002")]
    words = {}
    for item, (kind, code) in zip(ng, (("repaired", "RESOLDER"), ("false_call", None)), strict=True):
        d = client.get(f"/api/v1/rework/{item['barcode']}", headers=op).json()["defects"][0]
        body = {"defect_id": d["defect_id"], "disposition": kind, "repair_code": code, "station": "RW-01"}
        r = client.post(f"/api/v1/rework/loops/{d['loop_id']}/dispositions", headers=op, json=body)
        assert r.status_code == 200, r.text
        words[item["barcode"]] = (kind, d)

    r = _export(db_url, tmp_path, tmp_path / "labels.csv")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {x["barcode"]: x for x in _rows(tmp_path / "labels.csv")}
    assert set(rows) == {*words, "MFL0000003"}
    escape = rows.pop("MFL0000003")  # the miss: labelled with what final EL found, at its grid position
    assert (escape["source"], escape["label"], escape["row"], escape["col"]) == ("escape", "crack", "1", "7")
    assert escape["x"] == "" and escape["model_class"] == ""
    for barcode, (kind, d) in words.items():
        row = rows[barcode]
        assert row["source"] == kind and row["by"] == "operator" and row["model_version"]
        assert row["label"] == ("ok" if kind == "false_call" else d["cls"]) and row["model_class"] == d["cls"]
        assert [int(row[k]) for k in "xywh"] == d["box"] and len(row["image_sha256"]) == 64

    # The folder: one crop per labelled cell, in a folder named after its label, readable as an image.
    r = _export(db_url, tmp_path, tmp_path / "set", "--format", "folder")
    assert r.returncode == 0, r.stderr[-2000:]
    listed = _rows(tmp_path / "set" / "labels.csv")
    assert (
        "(1 left out" in " ".join(r.stdout.split())
        and len(listed) == 2
        and {x["file"].split("/")[0] for x in listed} == {"ok", words[ng[0]["barcode"]][1]["cls"]}
    )
    for x in listed:
        crop = cv2.imread(str(tmp_path / "set" / x["file"]), cv2.IMREAD_UNCHANGED)
        assert crop is not None and crop.shape[0] >= int(x["h"]) and crop.shape[1] >= int(x["w"])
    assert _export(db_url, tmp_path, tmp_path / "set", "--format", "folder").returncode == 1  # never over an old set

    # An operator takes the false call back: it was a mis-key, so it is no label any more.
    fc = next(b for b, (k, _d) in words.items() if k == "false_call")
    loop = words[fc][1]["loop_id"]
    with transaction(make_sessionmaker(make_engine(db_url))) as s:  # the station's U key does exactly this
        undo_last(session=s, loop_id=loop, actor="operator", station="RW-01")
    assert _export(db_url, tmp_path, tmp_path / "after.csv").returncode == 0
    assert {x["barcode"] for x in _rows(tmp_path / "after.csv")} == {*(b for b in words if b != fc), "MFL0000003"}
    # A day range: nothing before today's dispositions.
    assert _export(db_url, tmp_path, tmp_path / "old.csv", "--until", "2020-01-01").returncode == 0
    assert _rows(tmp_path / "old.csv") == []


@pytest.mark.slow
def test_a_model_trains_on_the_floors_labels_and_is_tested_on_the_newest_weeks(
    client: TestClient, db_url: str, tmp_path: Path
) -> None:
    # `eltrace model train --from-labels`: the floor's labelled cells join the training data, split by time: what the
    # floor decided in the newest --holdout-days tests the new model (never trained on), beside the model it came from.
    if not db_url.startswith("sqlite"):
        pytest.skip("the labels query runs on both databases above; training does not touch the database")
    pytest.importorskip("torch")
    from datetime import UTC, datetime, timedelta

    from services.core.time import set_clock

    _ng_strings(db_url, tmp_path, {"MTL0000001": [3, 8], "MTL0000002": [3, 8]}, seed=10)
    op = token(client, "operator")
    now = datetime.now(UTC)
    try:
        for barcode, at in (("MTL0000001", now - timedelta(days=40)), ("MTL0000002", now)):  # an old and a new loop
            set_clock(at)
            for d, (kind, code) in zip(
                client.get(f"/api/v1/rework/{barcode}", headers=op).json()["defects"],
                (("false_call", None), ("repaired", "RESOLDER")),
                strict=True,
            ):
                body = {"defect_id": d["defect_id"], "disposition": kind, "repair_code": code, "station": "RW-01"}
                assert client.post(f"/api/v1/rework/loops/{d['loop_id']}/dispositions", headers=op, json=body).status_code == 200
    finally:
        set_clock(None)

    env = {**os.environ, "ELTRACE_DATABASE_URL": db_url, "ELTRACE_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "cli.main", "model", "train", "--version", "0.0.9-floor", "--from-labels", "--holdout-days", "14",
           "--strings", "4", "--no-elpv", "--no-eval-elpv", "--calib-strings", "4", "--test-strings", "4", "--epochs", "1",
           "--width", "4,8,8,8", "--threads", "1", "--batch", "32",
           "--work-dir", str(tmp_path / "train"), "--models-dir", str(tmp_path / "models")]  # fmt: skip
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    split = tmp_path / "train" / "labels-0.0.9-floor"
    assert sorted(p.parent.name for p in (split / "floor-labels-train").glob("*/*.png")) == ["crack", "ok"]  # 40 days ago
    assert sorted(p.parent.name for p in (split / "floor-labels-test").glob("*/*.png")) == ["crack", "ok"]  # the newest 14 days
    model_dir = tmp_path / "models" / "el-cell-classifier" / "0.0.9-floor"
    card = (model_dir / "model_card.md").read_text()
    assert "2 floor-labelled cells before" in card and "the 2 of the newest 14 days test" in card
    # Drift watch reads a new model's scores against its calibration scores: train writes them, the card shows them.
    ref = json.loads((model_dir / "metadata.json").read_text())["score_reference"]
    assert ref["ok_cells"] > 0 and ref["defect_cells"] > 0 and "## Drift reference" in card
    report = json.loads((model_dir / "eval" / "floor-labels" / "evaluation.json").read_text())
    assert report["reports"]["model"]["floor-labels-test"]["cells"] == 2  # the held-out labels, judged by the new model
