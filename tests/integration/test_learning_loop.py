"""The learning loop end to end (issue 15, "must show"), on real servers: Redis, the API on loopback, SQLite.

A line runs model A on generated strings with a known defect mix: dead cells (real defects) and OK
cells a new cell lot makes dim (which A, a brightness model, calls dead). Results travel the real path
(outbox -> publisher -> Redis -> ingest). Operators review and disposition through the API, from the
truth, as they would. `eltrace model train --from-labels` trains B on their labels; a quality engineer
registers B and starts it in shadow; the comparison shows B's false calls and misses beside A's on the
same images (checked against the labels the test itself gave); promotion switches the edge between two
images without a restart, rollback returns A within one image; every step is audited, every result
names the model that judged it, and no result is lost or doubled while switching (counted).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import onnx
import pytest
from sqlalchemy import select

from cli.servers.redis import RedisServer
from edge.api_client import EdgeApiClient
from edge.modelsync import ModelSync
from edge.pipeline import Inspector
from edge.training.synthetic import generate_string
from edge.wiring import load_inspector
from services.audit.orm import AuditEntry
from services.contracts import ResultEnvelope
from services.core.db import transaction
from services.core.time import set_clock
from services.inspection.orm import Inspection
from services.security.service import create_user
from tests.conftest import Stack, make_stack
from tests.support.edge import folder_worker
from tests.support.flow import consumer, publisher, round_trip
from tests.support.http import PASSWORD
from tests.support.tiny_model import build_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
STATION, NAME = "STR-EL-01", "tiny-test-model"
A, B = "0.0.1-a", "0.0.2-b"
OK = "ok"


def _string(seed: int) -> tuple[bytes, dict[tuple[int, int], str]]:
    """A 1x12 string: a dead cell in every other one, a dim OK cell (new lot) in two of three; truth per cell."""
    place = {(1, 2 + seed % 9): "dead_cell"} if seed % 2 == 0 else {}
    img, truth = generate_string(seed, recipe="full-1x12", defect_rate=0.0, megapixels=0.3, place=place)
    if seed % 3 != 2:
        x, y, w, h = truth.cells[11 - seed % 2].box  # col 12 or 11: never the dead one
        img[y : y + h, x : x + w] = (img[y : y + h, x : x + w].astype(np.float32) * (0.4 if seed % 3 == 0 else 0.55)).astype(
            img.dtype
        )
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes(), {(c.row, c.col): c.cls for c in truth.cells}


class Line:
    """The edge at STR-EL-01 (worker, model sync, publisher) and the ingest behind it."""

    def __init__(self, stack: Stack, tmp_path: Path, local_a: Path) -> None:
        def load(folder: Path) -> Inspector:
            return load_inspector(folder, device_id=stack.device.device_id, station_id=STATION)

        self.worker = folder_worker(load(local_a), tmp_path / "edge")
        self.sync = ModelSync(
            api=EdgeApiClient(stack.api_url, stack.device.api_key),
            worker=self.worker,
            models_dir=tmp_path / "edge" / "models",
            device_id=stack.device.device_id,
            signing_key=stack.signing_key,
            load=load,
            state_path=tmp_path / "edge" / "model.json",
        )
        self.step = round_trip(publisher(stack, self.worker.outbox), consumer(stack))
        self.stack = stack
        self.truth: dict[str, dict[tuple[int, int], str]] = {}
        self.judged: dict[str, ResultEnvelope] = {}  # barcode -> the result as the edge made it

    def judge(self, barcode: str, seed: int) -> ResultEnvelope:
        """One image through the station: written, judged, put in the outbox."""
        png, self.truth[barcode] = _string(seed)
        (self.worker.watch_dir / f"{barcode}_S1.png").write_bytes(png)
        assert self.worker.scan_once() == 1
        env = next(
            ResultEnvelope.model_validate_json(r.body)
            for r in self.worker.outbox.due(limit=1000, resend_after_s=0, now=1e12)
            if ResultEnvelope.model_validate_json(r.body).barcode == barcode
        )
        self.judged[barcode] = env
        return env

    def drain(self) -> None:
        """Publish, confirm and ingest until the outbox is empty."""
        for _ in range(200):
            self.step()
            if self.worker.outbox.count() == 0:
                return
        raise AssertionError("the outbox did not drain")


def _operators(http: httpx.Client, line: Line, barcodes: list[str], labels: dict[tuple[str, int, int], str]) -> Counter[str]:
    """What the floor does with the results: NG cells dispositioned, REVIEW strings reviewed, from the truth."""
    done: Counter[str] = Counter()
    for barcode in barcodes:
        env, truth = line.judged[barcode], line.truth[barcode]
        if env.verdict == "NG":
            for d in http.get(f"/api/v1/rework/{barcode}").raise_for_status().json()["defects"]:
                real = truth[(d["row"], d["col"])]
                body = {"defect_id": d["defect_id"], "station": "RW-01"}
                body |= {"disposition": "repaired", "repair_code": "RESOLDER"} if real != OK else {"disposition": "false_call"}
                http.post(f"/api/v1/rework/loops/{d['loop_id']}/dispositions", json=body).raise_for_status()
                labels[(barcode, d["row"], d["col"])] = real
                done["false_call" if real == OK else "repaired"] += 1
        elif env.verdict == "REVIEW":
            cells = http.get(f"/api/v1/review/{env.result_id}", params={"station": STATION}).raise_for_status().json()["cells"]
            words = []
            for c in cells:
                real = truth[(c["row"], c["col"])]
                words.append(
                    {"defect_id": c["defect_id"], "decision": "OK" if real == OK else "DEFECT"}
                    | ({"cls": real} if real != OK else {})
                )
                labels[(barcode, c["row"], c["col"])] = real
                done["review_ok" if real == OK else "review_defect"] += 1
            http.post(f"/api/v1/review/{env.result_id}", json={"station": STATION, "cells": words}).raise_for_status()
    return done


def _figures(decisions: dict[tuple[int, int], str], barcode: str, labels: dict[tuple[str, int, int], str]) -> tuple[int, int]:
    """(false calls, misses) of one model's cell decisions against the labels the floor gave (None: no word)."""
    fc = miss = 0
    for (row, col), decision in decisions.items():
        label = labels.get((barcode, row, col))
        if label is None:
            continue
        flagged = decision in ("NG", "REVIEW")
        fc += int(label == OK and flagged)
        miss += int(label != OK and not flagged)
    return fc, miss


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ELTRACE_DATABASE_URL": stack.db_url, "ELTRACE_DATA_DIR": str(stack.data_dir / "api")}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_a_round_of_the_learning_loop_from_floor_labels_to_promotion_and_back(
    sqlite_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    stack = make_stack(sqlite_url, redis_server, tmp_path)
    try:
        _loop(stack, tmp_path)
    finally:
        set_clock(None)
        for t in stack.threads:
            t.stop()


def _loop(stack: Stack, tmp_path: Path) -> None:
    with transaction(stack.sessions) as s:
        create_user(session=s, username="qe", password=PASSWORD, role="quality_engineer")
        create_user(session=s, username="op", password=PASSWORD, role="operator")

    def signed_in(user: str) -> httpx.Client:
        c = httpx.Client(base_url=stack.api_url, timeout=30)
        r = c.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD}).raise_for_status()
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return c

    qe, op = signed_in("qe"), signed_in("op")
    models = f"/api/v1/stations/{STATION}/models"
    a_dir = build_tiny_model(tmp_path / "reg" / A, version=A, operating_points=(0.01, 0.9))
    props = onnx.load(str(a_dir / "model.onnx")).metadata_props
    (a_dir / "metadata.json").write_text(
        next(p.value for p in props if p.key == "eltrace")
    )  # a model folder as training writes it
    r = _cli(stack, "model", "register", str(a_dir), "--by", "qe")
    assert r.returncode == 0, r.stdout + r.stderr
    qe.post(models, json={"name": NAME, "version": A, "reason": "line start"}).raise_for_status()
    line = Line(stack, tmp_path, build_tiny_model(tmp_path / "local" / A, version=A, operating_points=(0.01, 0.9)))
    assert line.sync.check_once() in ("same", "switched") and line.worker.inspector.model_ref.version == A

    # Round 1: A alone; the floor labels what A flagged. The labels of the first eight strings are dated six weeks
    # back, the last four's two days back (the server's clock; the edge's captures stay now, as ingest refuses
    # captures from its future): --from-labels trains on the older ones and tests on the newest 14 days.
    first = [f"MLA{i:07d}" for i in range(12)]
    for i, barcode in enumerate(first):
        assert line.judge(barcode, i).model.version == A
    line.drain()
    old: dict[tuple[str, int, int], str] = {}
    newest: dict[tuple[str, int, int], str] = {}
    set_clock(datetime.now(UTC) - timedelta(days=42))
    done = _operators(op, line, first[:8], old)
    set_clock(datetime.now(UTC) - timedelta(days=2))
    done += _operators(op, line, first[8:], newest)
    labels = old | newest
    assert done["false_call"] and done["repaired"] and done["review_ok"]  # the mix reaches every kind of label

    # B from the floor's labels (the newest 14 days would test it: none yet, so all of them train it).
    set_clock(None)
    out = tmp_path / "trained"
    r = _cli(stack, "model", "train", "--name", NAME, "--version", B, "--from-labels", "--holdout-days", "14",
             "--strings", "4", "--no-elpv", "--no-eval-elpv", "--calib-strings", "4", "--test-strings", "4", "--epochs", "1",
             "--width", "4,8,8,8", "--threads", "1", "--batch", "32", "--work-dir", str(tmp_path / "train"),
             "--models-dir", str(out))  # fmt: skip
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    split = tmp_path / "train" / f"labels-{B}"
    assert len(list((split / "floor-labels-train").glob("*/*.png"))) == len(old) > 0
    assert len(list((split / "floor-labels-test").glob("*/*.png"))) == len(newest) > 0
    r = _cli(stack, "model", "register", str(out / NAME / B), "--by", "qe")
    assert r.returncode == 0, r.stdout + r.stderr

    # Round 2: B in shadow beside A on the same images; the floor labels what A (live) flagged.
    qe.post(
        models, json={"name": NAME, "version": B, "role": "shadow", "reason": "trial of the floor-trained model"}
    ).raise_for_status()
    assert line.sync.check_once() == "same" and line.sync.state.shadow == f"{NAME} {B}"
    second = [f"MLB{i:07d}" for i in range(8)]
    for i, barcode in enumerate(second):
        env = line.judge(barcode, 100 + i)
        assert env.model.version == A and env.shadow is not None and env.shadow.model.version == B
    line.drain()
    shadow_labels: dict[tuple[str, int, int], str] = {}
    _operators(op, line, second, shadow_labels)
    labels |= shadow_labels
    report = qe.get(f"{models}/compare").raise_for_status().json()
    (live,), (cand,) = report["live"], report["shadow"]
    assert report["images"] == live["images"] == cand["images"] == len(second)
    expect = {A: [0, 0], B: [0, 0]}
    for barcode in second:
        env = line.judged[barcode]
        assert env.shadow is not None
        for version, cells in ((A, {(c.row, c.col): c.effective_decision.value for c in env.cells}),
                               (B, {(c.row, c.col): c.decision.value for c in env.shadow.cells})):  # fmt: skip
            fc, miss = _figures(cells, barcode, labels)
            expect[version][0] += fc
            expect[version][1] += miss
    assert [live["false_calls"], live["missed"]] == expect[A] and [cand["false_calls"], cand["missed"]] == expect[B]
    assert live["labelled_ok"] == cand["labelled_ok"] == sum(1 for v in shadow_labels.values() if v == OK)
    assert expect[A][0] > 0 and expect[A][1] == 0  # A's false calls are what the floor corrected; A missed none it flagged

    # Promotion between two images, then rollback within one: the edge switches without a restart.
    versions = []
    third = [f"MLC{i:07d}" for i in range(6)]
    for i, barcode in enumerate(third):
        if i == 2:
            qe.post(models, json={"name": NAME, "version": B, "reason": "fewer false calls on the dim lot"}).raise_for_status()
            assert line.sync.check_once() == "switched"
        if i == 4:
            qe.post(f"{models}/rollback", json={"reason": "rollback drill"}).raise_for_status()
            assert line.sync.check_once() == "switched"
        versions.append(line.judge(barcode, 200 + i).model.version)
    assert versions == [A, A, B, B, A, A]
    line.drain()

    # Counted: every judged result stored exactly once, naming the model that judged it.
    with transaction(stack.sessions) as s:
        stored = dict(s.execute(select(Inspection.result_id, Inspection.model_version)).all())
        shadows = dict(s.execute(select(Inspection.result_id, Inspection.shadow_version)).all())
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert len(line.judged) == len(first) + len(second) + len(third) == len(stored)
    assert {e.result_id: e.model.version for e in line.judged.values()} == stored
    # B shadowed A until its promotion (the second round and the first two of the third), and no longer after it.
    assert {line.judged[b].result_id for b in second + third[:2]} == {k for k, v in shadows.items() if v == B}
    model_actions = [a for a in actions if a.startswith("model.")]
    assert model_actions == [
        "model.register",
        "model.promote",
        "model.register",
        "model.shadow",
        "model.promote",
        "model.rollback",
    ]
    counts = Counter(actions)
    reviews = sum(1 for b in first + second if line.judged[b].verdict == "REVIEW")
    assert counts["review.complete"] == reviews > 0
    dispositions = sum(1 for (b, _r, _c) in labels if line.judged[b].verdict == "NG")
    assert counts["rework.disposition"] == dispositions > 0
    assert qe.get(models).raise_for_status().json()[0]["version"] == A  # live again
