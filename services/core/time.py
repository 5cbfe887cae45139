"""Clock helpers: every stored timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

_frozen: datetime | None = None


def utcnow() -> datetime:
    """Current time, aware, UTC (or the time set by set_clock)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def set_clock(at: datetime | None) -> None:
    """Pin the clock to `at` (tests, what-if reports); None restores the real clock."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("the clock needs an aware datetime")
    _frozen = at


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in and out, also on SQLite (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)


def plausible(at: datetime, *, what: str, future: timedelta = timedelta(days=1)) -> datetime:
    """`at` if it lies between 2000 and `future` from now; a ValueError naming `what` otherwise."""
    if at.tzinfo is None:
        raise ValueError(f"{what} needs a time zone")
    if at < EARLIEST_PLAUSIBLE or at > utcnow() + future:
        raise ValueError(f"{what} {at.isoformat()} is implausible (before 2000 or in the future)")
    return at
