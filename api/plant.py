"""Plant time on the pages: times are stored in UTC and shown and typed in the plant's time zone (ELTRACE_PLANT_TIMEZONE)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

_zone_name: ContextVar[str] = ContextVar("eltrace_plant_zone", default="UTC")
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    """The plant's time zone for the request being answered."""
    return _zone(_zone_name.get())


@contextmanager
def use_zone(name: str) -> Iterator[None]:
    """Show and read times in `name` inside the block (set per request by the locale middleware)."""
    token = _zone_name.set(name)
    try:
        yield
    finally:
        _zone_name.reset(token)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def plant_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as the plant's clock shows it; empty for none."""
    if value is None:
        return ""
    return _aware(value).astimezone(zone()).strftime(fmt)


def plant_zone_label(at: datetime | None = None) -> str:
    """The zone as people read it beside times: 'Asia/Shanghai, UTC+08:00'."""
    offset = (_aware(at) if at else datetime.now(UTC)).astimezone(zone()).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{_zone_name.get()}, UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def to_input(value: datetime) -> str:
    """A time for a datetime-local field, in plant time."""
    return _aware(value).astimezone(zone()).strftime(INPUT_FORMAT)


def from_input(text: str) -> datetime:
    """A datetime-local field's value (plant time, no zone) as an aware UTC time; ValueError if it is not one."""
    local = datetime.fromisoformat(text.strip())
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone())
    return local.astimezone(UTC)


def today() -> date:
    """Today's date on the plant's calendar."""
    return datetime.now(UTC).astimezone(zone()).date()


def day_start_utc(day: date) -> datetime:
    """Midnight of a plant-calendar day, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=zone()).astimezone(UTC)
