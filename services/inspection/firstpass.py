"""The first-pass population: each string's earliest string EL image, and the daily roll-up of them.

The flags sit on the images and are decided at ingest. A capture that arrives after a later one of
the same string (an outbox drained after an outage) takes the flag over, and the roll-up moves with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.contracts import Stage
from services.inspection import repository as repo
from services.inspection.orm import Inspection

_STRING_EL = Stage.STRING_EL.value
_Key = tuple[str, str, str, str]  # plant day, station, shift, verdict


def plant_day(at: datetime, zone: ZoneInfo) -> str:
    """The plant-calendar day (YYYY-MM-DD) of an instant."""
    return at.astimezone(zone).date().isoformat()


def _key(at: datetime, station: str, shift: str | None, verdict: str, zone: ZoneInfo) -> _Key:
    return plant_day(at, zone), station, shift or "?", verdict


def _save(session: Session, strings: Counter[_Key], modules: Counter[_Key]) -> None:
    keys = sorted(k for k in set(strings) | set(modules) if strings[k] or modules[k])
    rows = [
        {"day": k[0], "station_code": k[1], "shift": k[2], "verdict": k[3], "strings": strings[k], "modules": modules[k]}
        for k in keys
    ]
    repo.add_first_pass(session, rows)
    if any(r["strings"] < 0 or r["modules"] < 0 for r in rows):  # type: ignore[operator]
        repo.prune_first_pass_days(session)


def record_first_pass(session: Session, rows: Sequence[dict[str, object]], plant_timezone: str) -> None:
    """Set first_pass / first_of_module on inspection rows about to be inserted, and move the roll-up.

    Call before inserting `rows`, in the same transaction; rows whose result_id is already stored
    are never earlier than the stored copy, so they take no flag.
    """
    zone = ZoneInfo(plant_timezone)
    for r in rows:
        r["first_pass"] = r["first_of_module"] = False
    string_rows = sorted((r for r in rows if r["stage"] == _STRING_EL), key=lambda r: r["captured_at"])  # type: ignore[arg-type, return-value]
    stored_strings, stored_modules = repo.first_looks(session, sorted({int(r["module_id"]) for r in string_rows}))  # type: ignore[call-overload]
    first_string: dict[tuple[int, int], dict[str, object] | repo.FirstLook] = dict(stored_strings)
    first_module: dict[int, dict[str, object] | repo.FirstLook] = dict(stored_modules)
    for r in string_rows:
        module, pair, at = int(r["module_id"]), (int(r["module_id"]), int(r["string_position"])), r["captured_at"]  # type: ignore[call-overload]
        for table, key, flag in ((first_string, pair, "first_pass"), (first_module, module, "first_of_module")):
            held = table.get(key)  # type: ignore[attr-defined]
            if held is None or at < (held["captured_at"] if isinstance(held, dict) else held[1]):  # type: ignore[operator]
                if isinstance(held, dict):
                    held[flag] = False
                table[key] = r  # type: ignore[index]
                r[flag] = True
    demoted_strings = [look for pair, look in stored_strings.items() if first_string[pair] is not look]
    demoted_modules = [look for m, look in stored_modules.items() if first_module[m] is not look]
    repo.demote_first_looks(session, strings=[d[0] for d in demoted_strings], modules=[d[0] for d in demoted_modules])
    strings: Counter[_Key] = Counter()
    modules: Counter[_Key] = Counter()
    for _id, at, st, sh, v in demoted_strings:
        strings[_key(at, st, sh, v, zone)] -= 1
    for _id, at, st, sh, v in demoted_modules:
        modules[_key(at, st, sh, v, zone)] -= 1
    for r in string_rows:
        key = _key(r["captured_at"], r["station_code"], r["shift"], r["verdict"], zone)  # type: ignore[arg-type]
        strings[key] += int(bool(r["first_pass"]))
        modules[key] += int(bool(r["first_of_module"]))
    _save(session, strings, modules)


def rebuild_first_pass_days(session: Session, plant_timezone: str, chunk: int = 50_000) -> int:
    """Recount the whole roll-up from the stored first-pass images (after a plant time-zone change); images counted."""
    repo.clear_first_pass_days(session)
    zone, after, total = ZoneInfo(plant_timezone), 0, 0
    while batch := repo.first_pass_images(session, after_id=after, limit=chunk):
        strings: Counter[_Key] = Counter()
        modules: Counter[_Key] = Counter()
        for _id, at, st, sh, v, first_of_module in batch:
            strings[_key(at, st, sh, v, zone)] += 1
            modules[_key(at, st, sh, v, zone)] += int(first_of_module)
        _save(session, strings, modules)
        after, total = batch[-1][0], total + len(batch)
    return total


def move_first_pass(session: Session, insp: Inspection, *, before: str, zone: ZoneInfo) -> None:
    """A first-pass image's verdict changed (an EL review completed it): move its roll-up count along."""
    strings: Counter[_Key] = Counter()
    modules: Counter[_Key] = Counter()
    old = _key(insp.captured_at, insp.station_code, insp.shift, before, zone)
    new = _key(insp.captured_at, insp.station_code, insp.shift, insp.verdict, zone)
    strings[old] -= 1
    strings[new] += 1
    if insp.first_of_module:
        modules[old] -= 1
        modules[new] += 1
    _save(session, strings, modules)
