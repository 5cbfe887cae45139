"""The shipped commands, run as a user would: the demo (README's first command) and `eltrace inspect`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from edge.training.synthetic import generate_string

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "models" / "el-cell-classifier" / "DEFAULT"

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no default model registered in models/")


def test_demo_stores_every_result_and_exits_zero(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", "--images", "8", "--no-serve", "--data-dir", str(tmp_path / "demo")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "every image's result is stored" in r.stdout
    assert "results stored" in r.stdout and "8 of 8" in r.stdout
    assert "ERROR 1" in r.stdout  # the deliberately unreadable file


def test_inspect_prints_one_json_line_per_image_and_overlays(tmp_path: Path) -> None:
    paths = []
    for i, depth in enumerate((8, 16)):
        img, _truth = generate_string(31_000 + i, recipe="half-2x12", defect_rate=0.1, bit_depth=depth, megapixels=2.0)
        p = tmp_path / f"s{i}.png"
        cv2.imwrite(str(p), img)
        paths.append(p)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "inspect",
            *map(str, paths),
            str(bad),
            "--grid",
            "2x12",
            "--cell-aspect",
            "2",
            "--overlay",
            str(tmp_path / "ov"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [x["verdict"] in ("OK", "REVIEW", "NG") for x in lines[:2]] == [True, True]
    assert all(c["decision"] in ("REVIEW", "NG") and 0 <= c["p_defect"] <= 1 for x in lines[:2] for c in x["cells"])
    assert lines[2]["verdict"] == "ERROR" and "image rejected" in lines[2]["error"]
    assert all("total" in x["timings_ms"] for x in lines)
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["s0.overlay.png", "s1.overlay.png"]
    # --json: the whole v2 result, every cell (OK ones too) with its decision, p(defect) and top class.
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "inspect", str(paths[0]), "--grid", "2x12", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    full = json.loads(r.stdout.strip().splitlines()[-1])
    assert full["schema_version"] == 2 and len(full["cells"]) == 24
    assert all(c["decision"] in ("OK", "REVIEW", "NG") and c["p_defect"] is not None and c["top_class"] for c in full["cells"])


def test_csv_import_command_is_all_or_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "ELTRACE_DATA_DIR": str(tmp_path), "ELTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'e.db'}"}
    run = [sys.executable, "-m", "cli.main"]
    assert subprocess.run([*run, "db", "migrate"], cwd=ROOT, env=env, capture_output=True, timeout=120).returncode == 0
    bad = tmp_path / "products.csv"
    bad.write_text("code,series,cell_format,grid\nP1,HJT,210,2x12\nP2,HJT,210,twelve\n")
    r = subprocess.run([*run, "import", "products", str(bad)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "nothing imported" in r.stdout and "twelve" not in r.stderr
    bad.write_text("code,series,cell_format,grid\nP1,HJT,210,2x12\nP2,HJT,210,2x11\n")
    r = subprocess.run([*run, "import", "products", str(bad)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "2 imported" in r.stdout
    r = subprocess.run([*run, "ppm-rollup"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "0 shipments" in r.stdout


def test_server_processes_refuse_the_public_placeholder_secret(tmp_path: Path) -> None:
    """`eltrace api` / `eltrace ingest` without a real ELTRACE_SECRET_KEY would accept admin tokens anyone can sign."""
    for process in ("api", "ingest"):
        for secret in (None, "demo-secret-not-for-production", "change-me"):
            env = {k: v for k, v in os.environ.items() if not k.startswith("ELTRACE_")}
            env["ELTRACE_DATA_DIR"] = str(tmp_path)
            if secret is not None:
                env["ELTRACE_SECRET_KEY"] = secret
            r = subprocess.run(
                [sys.executable, "-m", "cli.main", process], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            )
            assert r.returncode == 2 and "placeholder" in r.stdout, (process, secret, r.stdout[-500:], r.stderr[-500:])


def test_a_device_is_registered_on_a_station_of_one_line(sqlite_url: str) -> None:
    from services.core.db import make_engine, make_sessionmaker, transaction
    from services.core.errors import Conflict
    from services.devices.orm import Station
    from services.devices.service import provision_device
    from tests.conftest import SECRET

    sessions = make_sessionmaker(make_engine(sqlite_url))
    with transaction(sessions) as s:
        provision_device(session=s, code="edge-l1", station_code="STR-EL-31", master_secret=SECRET.encode(), line="L1")
        provision_device(session=s, code="edge-l1b", station_code="STR-EL-31", master_secret=SECRET.encode())  # no line: keeps L1
    with pytest.raises(Conflict, match="on line L1, not L2"), transaction(sessions) as s:
        provision_device(session=s, code="edge-l2", station_code="STR-EL-31", master_secret=SECRET.encode(), line="L2")
    with transaction(sessions) as s:
        from sqlalchemy import select

        assert s.scalar(select(Station.line).where(Station.code == "STR-EL-31")) == "L1"


def _redis_of(port: int) -> list[int]:
    """PIDs of redis-server processes on `port` (read from /proc: what is really running; redis sets its title)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and "redis-server" in cmd and f":{port}" in cmd:
            pids.append(int(proc.name))
    return pids


def _serving_demo(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    from cli.servers.http import free_port

    cmd = [sys.executable, "-m", "cli.main", "demo", "--images", "4", "--port", str(free_port()), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    port = 0
    for line in proc.stdout:
        if "Redis (embedded" in line:
            port = int(line.split("redis://127.0.0.1:", 1)[1].split("/", 1)[0])
        if "Serving until" in line:
            return proc, port
    raise AssertionError(f"the demo stopped before serving (exit {proc.wait()})")


def _gone(port: int, within_s: float = 15.0) -> bool:
    import time

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _redis_of(port):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_stopped_demo_leaves_no_redis_server_running(tmp_path: Path, how: str) -> None:
    import signal

    data_dir = tmp_path / "demo"
    proc, port = _serving_demo(data_dir)
    try:
        assert len(_redis_of(port)) == 1  # the check sees the server while the demo runs
        proc.send_signal(getattr(signal, how))
        code = proc.wait(timeout=60)
        if how == "SIGTERM":
            assert code == 0  # the same clean stop as Ctrl-C
        assert _gone(port), f"redis-server still running after the demo got {how}"
    finally:
        proc.kill()
        for pid in _redis_of(port):
            os.kill(pid, 9)


def test_bench_queries_json_holds_every_figure_of_its_table() -> None:
    # A tiny history on a real PostgreSQL: the point is that --json carries the table, not the speed.
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "bench", "queries", "--modules", "2000", "--samples", "5", "--no-browser", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    last = json.loads(r.stdout.strip().splitlines()[-1])
    rows = {row["query"]: row for t in last["tables"] for row in t["rows"]}
    dash = next(v for k, v in rows.items() if k.startswith("dashboard"))
    assert dash["n"] > 0 and 0 < dash["p50 ms"] <= dash["p95 ms"]
    assert any(k.startswith("module history") for k in rows) and any("baseline" in k for k in rows)
    drift = next(v for k, v in rows.items() if k.startswith("drift watch"))
    assert drift["n"] > 0 and 0 < drift["p50 ms"] <= drift["p95 ms"]


@pytest.mark.slow
def test_bench_learning_runs_one_round_and_its_json_holds_the_figures(tmp_path: Path) -> None:
    # The loop at toy scale (the brightness model as A, a tiny CNN as B): the point is that every step runs and
    # --json carries the figures of both models on the same strings, not their quality.
    pytest.importorskip("torch")
    import onnx

    from tests.support.tiny_model import build_tiny_model

    a = build_tiny_model(tmp_path / "a", version="0.0.1-a", operating_points=(1e-6, 0.99))  # doubtful of nearly every cell
    props = onnx.load(str(a / "model.onnx")).metadata_props
    (a / "metadata.json").write_text(next(p.value for p in props if p.key == "eltrace"))
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "bench", "learning", "--live", str(a), "--label-strings", "20", "--test-strings", "8",
         "--defect-rate", "0.1", "--replay-strings", "2", "--calib-strings", "4", "--arch", "cellnet", "--width", "4,8,8,8",
         "--browser-samples", "2", "--no-elpv", "--work-dir", str(tmp_path / "bench"), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["bench"] == "learning" and out["floor_labels"] > 0 and "trained" in out["B"]["floor_labels"]
    before, after = out["before"], out["after"]
    assert before["cells"] == after["cells"] > 0 and before["defects"] == after["defects"] > 0  # the same strings
    live, shadow = out["report"]["live"][0], out["report"]["shadow"][0]
    assert live["version"] == "0.0.1-a" and shadow["version"] == out["B"]["version"] and live["images"] == shadow["images"] > 0
    assert set(out["seconds"]) >= {
        "line runs A",
        "floor labels",
        "train B from labels",
        "line runs A with B in shadow",
        "promote B",
    }
    assert isinstance(out["target"]["met"], bool)
    assert out["review_scan_to_image_ms"]["n"] == 2 and out["review_scan_to_image_ms"]["p95"] > 0  # timed at the page
