"""The edge worker on real files: judged images, unjudgeable images (ERROR, never OK), rejects."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.inference.model import CellClassifier, ModelError
from edge.inference.rules import DecisionRules
from edge.outbox import Outbox
from edge.pipeline import Inspector, Recipe
from edge.training.synthetic import generate_string, write_string
from edge.worker import FolderWorker
from services.contracts import Grid, ResultEnvelope, Verdict
from tests.support.tiny_model import build_tiny_model


@pytest.fixture
def worker(tmp_path: Path) -> FolderWorker:
    model = CellClassifier.load(build_tiny_model(tmp_path / "model"))
    rules = DecisionRules.load(classes=model.info.classes, defect_threshold=model.info.defect_threshold, path=None)
    inspector = Inspector(model, rules, device_id="edge-t1", station_id="STR-EL-01")
    return FolderWorker(
        inspector=inspector,
        outbox=Outbox(tmp_path / "outbox.sqlite"),
        watch_dir=tmp_path / "in",
        done_dir=tmp_path / "done",
        rejected_dir=tmp_path / "rejected",
        default_recipe=Recipe("full-1x12", Grid(rows=1, cols=12), 1.0),
        filename_pattern=r"^(?P<barcode>[A-Za-z0-9][A-Za-z0-9.\-]{0,63})_S(?P<pos>\d{1,2})$",
        settle_s=0,
    )


def _results(worker: FolderWorker) -> dict[str, ResultEnvelope]:
    out = {}
    for row in worker.outbox.due(limit=1000, resend_after_s=0, now=1e12):
        env = ResultEnvelope.model_validate_json(row.body)
        out[env.barcode] = env
    return out


def _png_bomb() -> bytes:
    """A valid PNG header claiming 100000 x 100000 pixels (10 G pixels) with a tiny body."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


def test_good_images_are_judged_with_cells_boxes_and_timings(worker: FolderWorker) -> None:
    for i, depth in enumerate((8, 16)):
        img, truth = generate_string(40 + i, recipe="full-1x12", defect_rate=0.0, megapixels=1.0, bit_depth=depth)
        write_string(worker.watch_dir / f"img{i}.png", img, truth, barcode=f"MOD{i:04d}", string_position=2)
    assert worker.scan_once() == 2
    res = _results(worker)
    for i in range(2):
        env = res[f"MOD{i:04d}"]
        assert env.verdict is Verdict.OK, env.error
        assert len(env.cells) == 12 and env.string_position == 2
        assert {"decode", "segment", "infer", "total"} <= set(env.timings_ms)
        assert env.model.name == "tiny-test-model"
    assert not list(worker.watch_dir.glob("*.png")) and len(list(worker.done_dir.glob("*.png"))) == 2


def test_dead_cell_makes_the_string_ng(worker: FolderWorker) -> None:
    img, truth = generate_string(11, recipe="full-1x12", defect_rate=0.0, megapixels=1.0, bit_depth=8)
    x, y, w, h = truth.cells[4].box
    img[y + 3 : y + h - 3, x + 3 : x + w - 3] = (img[y + 3 : y + h - 3, x + 3 : x + w - 3] * 0.08).astype(img.dtype)
    write_string(worker.watch_dir / "dead.png", img, truth, barcode="MODDEAD", string_position=1)
    worker.scan_once()
    env = _results(worker)["MODDEAD"]
    assert env.verdict is Verdict.NG
    assert [(c.row, c.col, c.cls) for c in env.cells if c.ng] == [(1, 5, "dead_cell")]


def test_a_failing_shadow_model_is_the_shadows_error_never_the_live_results(worker: FolderWorker, tmp_path: Path) -> None:
    """Shadow mode (issue 15, item 4): a candidate that breaks on an image costs the live verdict nothing."""
    from edge.pipeline import ShadowModel

    shadow = CellClassifier.load(build_tiny_model(tmp_path / "shadow", version="0.0.9-shadow", threshold=0.3))
    rules = DecisionRules.load(classes=shadow.info.classes, defect_threshold=shadow.info.defect_threshold, path=None)
    worker.inspector.shadow = ShadowModel(shadow, rules)
    img, truth = generate_string(11, recipe="full-1x12", defect_rate=0.0, megapixels=1.0, bit_depth=8)
    x, y, w, h = truth.cells[4].box
    img[y + 3 : y + h - 3, x + 3 : x + w - 3] = (img[y + 3 : y + h - 3, x + 3 : x + w - 3] * 0.08).astype(img.dtype)
    write_string(worker.watch_dir / "a.png", img, truth, barcode="MODSH1", string_position=1)
    worker.scan_once()
    env = _results(worker)["MODSH1"]
    assert env.schema_version == 3 and env.shadow is not None and env.shadow.model.version == "0.0.9-shadow"
    assert env.shadow.verdict is Verdict.NG and [(c.row, c.col) for c in env.shadow.cells if c.decision == "NG"] == [(1, 5)]

    def broken(batch: np.ndarray) -> tuple[np.ndarray, None]:
        raise RuntimeError("onnxruntime fell over")

    shadow.run = broken  # type: ignore[assignment,method-assign]
    write_string(worker.watch_dir / "b.png", img, truth, barcode="MODSH2", string_position=1)
    worker.scan_once()
    env = _results(worker)["MODSH2"]
    assert env.verdict is Verdict.NG and [(c.row, c.col) for c in env.cells if c.ng] == [(1, 5)]  # live as ever
    assert env.shadow is not None and env.shadow.verdict is Verdict.ERROR and "onnxruntime fell over" in (env.shadow.error or "")


BAD_INPUTS = {
    "corrupt": lambda good: good[:40] + bytes(200) + good[240:],
    "truncated": lambda good: good[: len(good) // 3],
    "empty": lambda good: b"",
    "black": lambda good: cv2.imencode(".png", np.zeros((600, 4000), np.uint8))[1].tobytes(),
    "not_an_image": lambda good: b"%PDF-1.7 this is a report, not an EL image" * 20,
    "bomb": lambda good: _png_bomb(),
    "noise": lambda good: cv2.imencode(".png", np.random.default_rng(1).integers(0, 256, (400, 2400), dtype=np.uint8))[
        1
    ].tobytes(),
    "noise16": lambda good: cv2.imencode(".png", np.random.default_rng(2).integers(0, 65536, (600, 3000), dtype=np.uint16))[
        1
    ].tobytes(),
    "rgba_noise": lambda good: cv2.imencode(".png", np.random.default_rng(3).integers(0, 256, (500, 2000, 4), dtype=np.uint8))[
        1
    ].tobytes(),
    "one_pixel": lambda good: cv2.imencode(".png", np.full((1, 1), 200, np.uint8))[1].tobytes(),
    "black16": lambda good: cv2.imencode(".png", np.zeros((600, 4000), np.uint16))[1].tobytes(),
    "wrong_grid": lambda good: good,  # a 1x12 string judged with a 2x11 recipe below
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_unjudgeable_images_are_error_with_a_reason_never_ok(worker: FolderWorker, kind: str) -> None:
    img, truth = generate_string(7, recipe="full-1x12", defect_rate=0.0, megapixels=1.0, bit_depth=8)
    good = cv2.imencode(".png", img)[1].tobytes()
    path = worker.watch_dir / f"BAD-{kind.replace('_', '')}_S1.png"
    path.write_bytes(BAD_INPUTS[kind](good))
    if kind == "wrong_grid":
        path.with_suffix(".json").write_text(
            json.dumps({"barcode": "BAD-wronggrid", "string_position": 1, "recipe": "half-2x11", "rows": 2, "cols": 11})
        )
    assert worker.scan_once() == 1  # never crashes the worker
    env = _results(worker)[f"BAD-{kind.replace('_', '')}".upper()]  # the one barcode rule: upper case
    assert env.verdict is Verdict.ERROR
    assert env.error and len(env.error) > 10
    assert env.cells == []


def test_malformed_barcode_is_rejected_and_changes_nothing(worker: FolderWorker) -> None:
    (worker.watch_dir / "no barcode here.png").write_bytes(b"\x89PNG whatever")
    (worker.watch_dir / "x_S1.png").with_suffix(".json").write_text('{"barcode": "bad barcode!", "string_position": 1}')
    (worker.watch_dir / "x_S1.png").write_bytes(b"\x89PNG whatever")
    worker.scan_once()
    assert worker.outbox.count() == 0
    reasons = sorted(p.read_text() for p in worker.rejected_dir.glob("*.reason.txt"))
    assert len(reasons) == 2 and any("malformed" in r for r in reasons)


def test_same_file_twice_is_one_result(worker: FolderWorker, tmp_path: Path) -> None:
    img, truth = generate_string(3, recipe="full-1x12", defect_rate=0.0, megapixels=1.0, bit_depth=8)
    write_string(tmp_path / "a.png", img, truth, barcode="MODTWICE", string_position=1)
    for _ in range(2):  # e.g. a crash after the outbox write, before the file moved
        (worker.watch_dir / "a.png").write_bytes((tmp_path / "a.png").read_bytes())
        (worker.watch_dir / "a.json").write_text((tmp_path / "a.json").read_text())
        worker.scan_once()
    assert worker.outbox.count() == 1


def test_altered_model_is_refused(tmp_path: Path) -> None:
    d = build_tiny_model(tmp_path / "m")
    with open(d / "model.onnx", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(ModelError, match="sha256"):
        CellClassifier.load(d)


def test_a_file_that_killed_the_worker_is_quarantined_with_an_error_and_the_rest_flow(
    worker: FolderWorker, tmp_path: Path
) -> None:
    """What a hard crash (segfault, OOM kill) mid-judgement leaves behind: the in-flight marker. The next
    start quarantines that file with an ERROR result instead of dying on it again, and judges the others."""
    img, truth = generate_string(5, recipe="full-1x12", defect_rate=0.0, megapixels=1.0, bit_depth=8)
    write_string(worker.watch_dir / "poison.png", img, truth, barcode="MODPOISON", string_position=1)
    write_string(worker.watch_dir / "good.png", img[:, ::-1].copy(), truth, barcode="MODGOOD", string_position=1)
    worker.inflight.write_text(json.dumps({"file": "poison.png"}))  # the previous process died judging it
    restarted = FolderWorker(
        inspector=worker.inspector,
        outbox=worker.outbox,
        watch_dir=worker.watch_dir,
        done_dir=worker.done_dir,
        rejected_dir=worker.rejected_dir,
        default_recipe=worker.default_recipe,
        filename_pattern=worker.pattern.pattern,
        settle_s=0,
    )
    assert restarted.quarantined == 1 and not worker.inflight.exists()
    assert (worker.rejected_dir / "quarantine" / "poison.png").exists()
    assert "crash" in (worker.rejected_dir / "quarantine" / "poison.png.reason.txt").read_text()
    assert restarted.scan_once() == 1  # only the good file is left to judge
    results = _results(restarted)
    assert results["MODPOISON"].verdict is Verdict.ERROR and "quarantined" in (results["MODPOISON"].error or "")
    assert results["MODGOOD"].verdict is not Verdict.ERROR
    assert not worker.inflight.exists()  # cleared after each judged file
