"""The edge outbox on its own: start-up sweep, parking, backoff, and an outbox written by an older edge."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.outbox import Outbox
from tests.support.factories import make_envelope


def test_start_sweeps_temp_files_and_images_no_row_needs(tmp_path: Path) -> None:
    """After kills between the spool write and the row (or after forget), the next start removes the leftovers."""
    ob = Outbox(tmp_path / "outbox.sqlite")
    kept_env, kept_png = make_envelope("edge-t1", 1)
    ob.add(kept_env, kept_png)
    (ob.spool / ".tmp-abc").write_bytes(b"half an image")
    orphans = [ob.spool / f"{i:064x}" for i in range(12)]
    for p in orphans:
        p.write_bytes(b"x" * 1000)
    ob.close()
    again = Outbox(tmp_path / "outbox.sqlite")
    assert again.swept == 13
    assert sorted(p.name for p in again.spool.iterdir()) == [kept_env.image.sha256]
    # A second process (edge status) never sweeps: the worker may be between its two writes.
    (again.spool / ".tmp-live").write_bytes(b"being written")
    assert Outbox(tmp_path / "outbox.sqlite", sweep=False).swept == 0 and (again.spool / ".tmp-live").exists()


def test_parked_rows_are_kept_not_due_and_come_back_when_requeued(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "outbox.sqlite")
    envs = [make_envelope("edge-t1", i)[0] for i in range(3)]
    for e in envs:
        ob.add(e, None)
    ob.park(envs[0].result_id, "image upload refused: HTTP 400", key_id="k1")
    assert [r.result_id for r in ob.due(limit=10, resend_after_s=30)] == [e.result_id for e in envs[1:]]
    st = ob.status()
    assert (st.waiting, st.in_flight, st.parked) == (2, 0, 1) and st.parked_reasons == {"image upload refused: HTTP 400": 1}
    assert ob.unpark(refused_under_other_key="k2") == 0  # not a signature refusal: stays parked
    assert ob.unpark([envs[0].result_id]) == 1 and ob.status().parked == 0


def test_looks_at_an_in_flight_row_back_off_and_cap(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "outbox.sqlite")
    env = make_envelope("edge-t1", 7)[0]
    ob.add(env, None)
    t = 1000.0
    gaps = []
    for _ in range(9):
        ob.mark_sent([env.result_id], t, stream_ids=["1-0"], resend_after_s=30)
        nxt = next(x for x in range(0, 100_000, 15) if ob.due(limit=1, resend_after_s=30, now=t + x))
        gaps.append(nxt)
        t += nxt
    assert gaps == [30, 60, 120, 240, 480, 960, 1920, 1920, 1920]


def test_an_outbox_of_an_older_edge_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE outbox (result_id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL,"
        " image_sha256 TEXT NOT NULL, content_type TEXT, has_image INTEGER NOT NULL, image_stored INTEGER NOT NULL DEFAULT 0,"
        " sent_at REAL, send_count INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO outbox VALUES ('r1', 1.0, '{}', 'abc', 'image/png', 0, 0, 5.0, 1);"
    )
    db.commit()
    db.close()
    ob = Outbox(path)
    assert [r.result_id for r in ob.due(limit=5, resend_after_s=30, now=36.0)] == ["r1"]  # old rows: sent_at + resend
    assert ob.due(limit=5, resend_after_s=30, now=34.0) == []
