"""The plant's shift calendar: which shift a capture time belongs to ("2026-11-25/C")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.audit.service import record as audit
from services.core.errors import InvalidInput
from services.core.i18n import N_
from services.inspection import repository as repo
from services.inspection.orm import ShiftPattern
from services.inspection.schemas import ShiftCalendarIO, ShiftIn


@dataclass(frozen=True)
class Shift:
    """One shift of the daily pattern, in plant-local minutes after midnight."""

    name: str
    start_minute: int
    end_minute: int  # may be <= start: the shift runs past midnight


# Used until an admin configures the plant's own calendar: three 8-hour shifts on the plant's clock
# (ELTRACE_PLANT_TIMEZONE).
DEFAULT_SHIFTS = (Shift("A", 6 * 60, 14 * 60), Shift("B", 14 * 60, 22 * 60), Shift("C", 22 * 60, 6 * 60))


@dataclass(frozen=True)
class ShiftCalendar:
    """A daily shift pattern and the plant's offset from UTC."""

    shifts: tuple[Shift, ...] = DEFAULT_SHIFTS
    utc_offset_minutes: int = 0
    zone: str | None = None  # an IANA zone instead of the fixed offset (the default calendar: the plant's zone)

    def __post_init__(self) -> None:
        covered = [0] * 1440
        for s in self.shifts:
            if not (0 <= s.start_minute < 1440 and 0 <= s.end_minute < 1440) or s.start_minute == s.end_minute:
                raise InvalidInput(N_("shift %(name)s: start and end must be different times of day"), name=s.name)
            m = s.start_minute
            while m != s.end_minute:
                covered[m] += 1
                m = (m + 1) % 1440
        if any(c != 1 for c in covered):
            raise InvalidInput(N_("the shifts must cover the 24 hours of a day exactly once (no gaps, no overlaps)"))

    def shift_of(self, at: datetime) -> str:
        """The shift key of an aware timestamp: local date the shift started on, '/', shift name."""
        local = at.astimezone(ZoneInfo(self.zone)) if self.zone else at + timedelta(minutes=self.utc_offset_minutes)
        minute = local.hour * 60 + local.minute
        for s in self.shifts:
            if s.start_minute < s.end_minute and s.start_minute <= minute < s.end_minute:
                return f"{local.date().isoformat()}/{s.name}"
            if s.start_minute > s.end_minute and (minute >= s.start_minute or minute < s.end_minute):
                day = local.date() if minute >= s.start_minute else local.date() - timedelta(days=1)
                return f"{day.isoformat()}/{s.name}"
        raise AssertionError("unreachable: the calendar covers every minute")  # checked in __post_init__


def load_calendar(session: Session, default_zone: str = "UTC") -> ShiftCalendar:
    """The configured calendar, or the default one on the plant's clock (`default_zone`) when none is configured."""
    rows = repo.shift_patterns(session)
    if not rows:
        return ShiftCalendar(zone=default_zone)
    return ShiftCalendar(
        tuple(Shift(r.name, r.start_minute, r.end_minute) for r in rows), utc_offset_minutes=rows[0].utc_offset_minutes
    )


def replace_calendar(*, session: Session, shifts: Sequence[Shift], utc_offset_minutes: int) -> ShiftCalendar:
    """Validate and store a new daily pattern (applies to results ingested from now on)."""
    if not -14 * 60 <= utc_offset_minutes <= 14 * 60:
        raise InvalidInput(N_("utc_offset_minutes must be within +-14 hours"))
    if len({s.name for s in shifts}) != len(shifts):
        raise InvalidInput(N_("shift names must be unique"))
    calendar = ShiftCalendar(tuple(shifts), utc_offset_minutes)
    repo.replace_shift_patterns(
        session,
        [
            ShiftPattern(name=s.name, start_minute=s.start_minute, end_minute=s.end_minute, utc_offset_minutes=utc_offset_minutes)
            for s in shifts
        ],
    )
    return calendar


def _hhmm(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def _minutes(t: str) -> int:
    h, m = t.split(":")
    return int(h) * 60 + int(m)


def calendar_io(session: Session, default_zone: str = "UTC") -> ShiftCalendarIO:
    """The calendar in hours and minutes (the default one with the plant zone's offset today)."""
    cal = load_calendar(session, default_zone)
    shifts = [ShiftIn(name=s.name, start=_hhmm(s.start_minute), end=_hhmm(s.end_minute)) for s in cal.shifts]
    offset = cal.utc_offset_minutes
    if cal.zone:
        delta = datetime.now(ZoneInfo(cal.zone)).utcoffset() or timedelta(0)
        offset = int(delta.total_seconds() // 60)
    return ShiftCalendarIO(utc_offset_minutes=offset, shifts=shifts)


def set_calendar(*, session: Session, calendar: ShiftCalendarIO, actor: str) -> ShiftCalendarIO:
    """Replace the calendar (audited); applies to results ingested from now on."""
    before = calendar_io(session).model_dump()
    replace_calendar(
        session=session,
        shifts=[Shift(s.name, _minutes(s.start), _minutes(s.end)) for s in calendar.shifts],
        utc_offset_minutes=calendar.utc_offset_minutes,
    )
    audit(
        session=session,
        actor=actor,
        action="shifts.replace",
        entity="shift_calendar",
        entity_id="plant",
        before=before,
        after=calendar.model_dump(),
    )
    return calendar
