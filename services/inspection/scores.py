"""The daily roll-up of the live model's cell scores: what drift watch reads (review load, score distribution).

Ingest adds the cells of each newly stored v2 string EL result; a result stored twice is counted once
because only inserted rows are counted. Days are plant-calendar days, like the first-pass roll-up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.contracts import Stage
from services.contracts.scores import score_bin
from services.inspection import repository as repo
from services.inspection.firstpass import plant_day

_Key = tuple[str, str, str, str, int]  # plant day, station, model version, decision, bin
_STRING_EL = Stage.STRING_EL.value


def _count(c: Counter[_Key], at: datetime, station: str, version: str, cells: Iterable[Sequence[object]], zone: ZoneInfo) -> None:
    day = plant_day(at, zone)
    for cell in cells:
        decision, p_defect = str(cell[2]), cell[3]
        if p_defect is not None:
            c[(day, station, version, decision, score_bin(float(p_defect)))] += 1  # type: ignore[arg-type]


def _save(session: Session, c: Counter[_Key]) -> None:
    rows = [
        {"day": k[0], "station_code": k[1], "model_version": k[2], "decision": k[3], "bin": k[4], "cells": n}
        for k, n in sorted(c.items())
        if n
    ]
    repo.add_score_days(session, rows)


def record_scores(session: Session, rows: Sequence[Mapping[str, Any]], plant_timezone: str) -> None:
    """Add the cells of newly stored inspection rows to the roll-up (call with the inserted ones only, same transaction).

    Reads each row's cell_scores, the compact cells ingest stores anyway, rather than the envelopes again.
    """
    zone, c = ZoneInfo(plant_timezone), Counter[_Key]()
    for r in rows:
        if r["stage"] == _STRING_EL and r["cell_scores"]:
            _count(c, r["captured_at"], r["station_code"], r["model_version"], r["cell_scores"], zone)
    _save(session, c)


def rebuild_score_days(session: Session, plant_timezone: str, chunk: int = 20_000) -> int:
    """Recount the score roll-up from the stored cell scores (after a plant time-zone change); images counted."""
    repo.clear_score_days(session)
    zone, after, total = ZoneInfo(plant_timezone), 0, 0
    while batch := repo.judged_images(session, after_id=after, limit=chunk):
        c = Counter[_Key]()
        for _id, at, station, version, cells in batch:
            _count(c, at, station, version, cells or [], zone)
        _save(session, c)
        after, total = batch[-1][0], total + len(batch)
    return total
