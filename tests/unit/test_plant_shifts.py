"""The default shift calendar runs on the plant's clock, not on UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from services.inspection.shifts import ShiftCalendar


def test_the_default_calendar_follows_the_plant_zone() -> None:
    at = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 07:30 on 1 December in Shanghai: the morning shift
    assert ShiftCalendar(zone="Asia/Shanghai").shift_of(at) == "2026-12-01/A"
    assert ShiftCalendar(zone="UTC").shift_of(at) == "2026-11-30/C"
    assert ShiftCalendar(utc_offset_minutes=480).shift_of(at) == "2026-12-01/A"  # a configured offset still works
