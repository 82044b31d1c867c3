"""EventBridge schedule expressions: ``rate(...)`` and the 6-field ``cron(...)``, in UTC.

``cron(minutes hours day-of-month month day-of-week year)`` with ``*``, ``?``, ranges ``a-b``,
lists ``a,b``, steps ``a/n`` and ``*/n``, month names JAN-DEC and day names SUN-SAT (1-7, Sunday
is 1). One of day-of-month and day-of-week must be ``?``. ``L``, ``W`` and ``#`` are refused
with a clear message: the local scheduler does not implement them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from rollcall_local.errors import LocalError

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, 1)}
DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
SEARCH_DAYS = 5 * 366
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(LocalError, ValueError):
    pass


@dataclass(frozen=True)
class Rate:
    period: timedelta

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        """The first tick after ``after``, ticks being ``anchor + k * period`` (k ≥ 1)."""
        elapsed = max(after - anchor, timedelta(0))
        return anchor + self.period * (elapsed // self.period + 1)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: '?'
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # None: '?'; 1 = Sunday
    years: frozenset[int]

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime:
        """The first matching minute strictly after ``after`` (searching five years ahead)."""
        start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(SEARCH_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = day.replace(hour=hour, minute=minute)
                        if moment >= start:
                            return moment
            day += timedelta(days=1)
        raise ScheduleError("the cron expression never fires in the next five years")

    def _day_matches(self, day: datetime) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return (day.weekday() + 1) % 7 + 1 in self.days_of_week


Expression = Rate | Cron


def parse(expression: str) -> Expression:
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value = int(rate.group(1))
        if value <= 0:
            raise ScheduleError(f"{expression}: the rate must be positive")
        return Rate(timedelta(seconds=value * _UNIT_SECONDS[rate.group(2).rstrip("s")]))
    cron = _CRON.match(expression)
    if not cron:
        raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(
            f"{expression}: cron needs 6 fields (minutes hours day-of-month month day-of-week year)"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_field(minutes, 0, 59),
        hours=_field(hours, 0, 23),
        days_of_month=None if dom == "?" else _field(dom, 1, 31),
        months=_field(month, 1, 12, MONTHS),
        days_of_week=None if dow == "?" else _field(dow, 1, 7, DAYS),
        years=_field(year, 1970, 2199),
    )


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    if "#" in text or not _only_names(text, names):
        raise ScheduleError(f"cron field {text!r}: L, W and # are not supported by the local scheduler")
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step <= 0:
            raise ScheduleError(f"cron field {text!r}: the step must be positive")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _value(first_text, names), _value(last_text, names)
        else:
            first = _value(base, names)
            last = high if step_text else first
        if not low <= first <= last <= high:
            raise ScheduleError(f"cron field {text!r}: values must be within {low}-{high}, ascending")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _only_names(text: str, names: dict[str, int] | None) -> bool:
    """Whether every word in ``text`` is a month or day name (L and W are not; JUL and WED are)."""
    return all(word in (names or {}) for word in re.findall(r"[A-Za-z]+", text.upper()))


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"cron value {text!r} is not a number" + (" or a name" if names else ""))
    return int(text)
