"""A line whose model drifts on its last day (drift watch tests: database and browser)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.contracts.scores import BINS, score_bin
from services.core.db import transaction
from services.core.time import set_clock
from services.devices.orm import Device
from services.devices.service import provision_device
from services.imagestore.store import DirectoryBlobStore
from services.ingest.store import store_batch
from services.inspection.orm import CellDefect, Inspection
from services.registry.service import register
from services.rework import service as rw
from services.rework.orm import ReworkLoop
from tests.conftest import SECRET
from tests.support.factories import MODEL, result

ZONE = "Asia/Shanghai"
DAY0 = datetime(2026, 11, 10, 8, 0, tzinfo=ZoneInfo(ZONE))
DAYS, STRINGS, DRIFT_DAY = 10, 30, 9
S1, S2 = "STR-EL-01", "STR-EL-02"


def reference() -> dict[str, object]:
    """The validation scores of the line's model: OK cells at 0.01 (a few doubtful at 0.4), defects at 0.95."""
    ok, defect = [0.0] * BINS, [0.0] * BINS
    ok[score_bin(0.01)], ok[score_bin(0.4)], defect[score_bin(0.95)] = 0.97, 0.03, 1.0
    return {"ok": ok, "defect": defect}


def drifting_line(sessions: sessionmaker[Session], tmp_path: Path, *, register_reference: bool = True) -> None:
    """Ten days at two stations; at S1 the last day drifts. NG cells are dispositioned; later EL finds escapes."""
    with transaction(sessions) as s:
        for code, st in (("edge-1", S1), ("edge-2", S2)):
            provision_device(session=s, code=code, station_code=st, master_secret=SECRET.encode())
        dev = dict(s.execute(select(Device.code, Device.id)).all())
        if register_reference:
            meta = {"name": MODEL.name, "version": MODEL.version, "score_reference": reference()}
            register(
                session=s,
                blobs=DirectoryBlobStore(tmp_path / "blobs"),
                onnx=b"onnx",
                metadata=meta,
                card="",
                evaluation=None,
                actor="qe",
            )
    for day in range(DAYS):
        for device, station in (("edge-1", S1), ("edge-2", S2)):
            drift = station == S1 and day == DRIFT_DAY
            envs = []
            for k in range(STRINGS):
                at = DAY0 + timedelta(days=day, minutes=10 * k)
                ng = [(1, 2, "crack")] if k % 10 == 0 else []
                review = [(1, 5, "crack")] if drift or k % 3 == 0 else []
                barcode = f"M{station[-1]}{day:02d}{k:05d}"
                envs.append(
                    result(
                        barcode, 1, ng=ng, review=review, at=at, device=device, station=station, ok_score=0.05 if drift else 0.01
                    )[0]
                )
            for batch in (envs, envs[:5]):  # a redelivered batch counts nothing twice
                with transaction(sessions) as s:
                    store_batch(session=s, items=[(e, dev[device]) for e in batch], loop_limit=3, plant_timezone=ZONE)
    with transaction(sessions) as s:
        loops = s.execute(
            select(ReworkLoop.id, CellDefect.id, Inspection.captured_at, Inspection.station_code)
            .join(Inspection, Inspection.id == ReworkLoop.ng_inspection_id)
            .join(CellDefect, CellDefect.inspection_id == Inspection.id)
            .where(CellDefect.ng.is_(True))
            .order_by(Inspection.captured_at)
        ).all()
    seen: Counter[tuple[str, int]] = Counter()
    for loop_id, defect_id, at, station in loops:
        day = (at.astimezone(ZoneInfo(ZONE)) - DAY0).days
        seen[(station, day)] += 1
        # Drift day at S1: every NG call false. Other days: the first NG of days 0-2 false, the rest real.
        false = (station == S1 and day == DRIFT_DAY) or (day < 3 and seen[(station, day)] == 1)
        item = rw.DispositionInput(defect_id, "false_call" if false else "repaired", None if false else "RESOLDER")
        set_clock(at + timedelta(hours=1))
        with transaction(sessions) as s:
            rw.dispose(session=s, loop_id=loop_id, item=item, actor="op", station="RW-01")
    set_clock(None)
    # Final EL finds cracks in two cells the drifted day passed (strings 1 and 2 of S1's last day).
    with transaction(sessions) as s:
        for k in (1, 2):
            at = DAY0 + timedelta(days=DRIFT_DAY, hours=8)
            env = result(
                f"M1{DRIFT_DAY:02d}{k:05d}",
                1,
                ng=[(1, 9, "crack")],
                stage="final_el",
                at=at,
                station="FIN-EL-01",
                device="edge-1",
            )[0]
            store_batch(session=s, items=[(env, dev["edge-1"])], loop_limit=3, plant_timezone=ZONE)


__all__ = ["DAY0", "DAYS", "DRIFT_DAY", "S1", "S2", "STRINGS", "ZONE", "drifting_line", "reference"]
