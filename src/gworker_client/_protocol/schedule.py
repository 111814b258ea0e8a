"""Schedules on the wire, and the arithmetic both sides need: when does a schedule fire next?

The SDK validates a ``Cron``/``Period`` at decoration with this module; the control plane uses it
to fire. Wall-clock rules for cron, in the schedule's own time zone:

- a local time skipped by a daylight-saving change (02:30 on the spring-forward day in New York)
  fires at the same instant the clock would have shown it, i.e. one hour later (03:30);
- a local time that happens twice (01:30 on the fall-back day) fires once, the first time.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, lowest, highest, names for values) of the five fields, in order
FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)
# How far ahead a cron expression is searched for its next time (Feb 29 on a Monday recurs
# within 28 years).
SEARCH_YEARS = 30


class ScheduleError(ValueError):
    """A schedule that cannot fire: the message names the bad part and what is accepted."""


def _value(token: str, low: int, names: list[str] | None, field: str, expr: str) -> int:
    if names and token.lower() in names:
        return names.index(token.lower()) + (1 if names is MONTHS else 0)
    if not token.isdigit():
        raise ScheduleError(
            f"cron expression {expr!r}: {token!r} in the {field} field is not a number"
            + (f" or a name ({', '.join(names)})" if names else "")
        )
    return int(token)


def _field(text: str, index: int, expr: str) -> frozenset[int]:
    field, low, high, names = FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(
                    f"cron expression {expr!r}: step {step_text!r} in the {field} field must be a"
                    " positive integer"
                )
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, low, names, field, expr), _value(b, low, names, field, expr)
        else:
            start = _value(base, low, names, field, expr)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(
                f"cron expression {expr!r}: {part!r} is outside the {field} field's range"
                f" {low}-{high}"
            )
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:  # both 0 and 7 are Sunday
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True)
class CronExpression:
    """A parsed five-field cron expression (minute hour day-of-month month day-of-week)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month is '*'
    any_weekday: bool  # day-of-week is '*'

    @classmethod
    def parse(cls, expr: str) -> CronExpression:
        if not isinstance(expr, str):
            raise ScheduleError(f"cron expression {expr!r} must be a string like '0 8 * * *'")
        text = MACROS.get(expr.strip().lower(), expr)
        parts = text.split()
        if len(parts) != 5:
            raise ScheduleError(
                f"cron expression {expr!r} has {len(parts)} fields; expected 5 (minute hour"
                " day-of-month month day-of-week, e.g. '0 8 * * *') or one of"
                f" {', '.join(MACROS)}"
            )
        m, h, dom, mon, dow = (_field(p, i, expr) for i, p in enumerate(parts))
        return cls(expr, m, h, dom, mon, dow, parts[2] == "*", parts[4] == "*")

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        # cron's rule: when both day fields are restricted, either one matching is enough
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, after: float, tz: ZoneInfo) -> float:
        """The first firing time strictly after the instant ``after`` (epoch seconds)."""
        local = datetime.fromtimestamp(after, tz)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        for _ in range(366 * SEARCH_YEARS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        wall = day.replace(hour=hour, minute=minute).replace(tzinfo=tz)
                        when = wall.timestamp()  # fold=0: the first of a repeated time
                        if when > after:
                            return when
            day += timedelta(days=1)
        raise ScheduleError(f"cron expression {self.text!r} never fires (check the day fields)")


def parse_timezone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"timezone {name!r} must be an IANA name like 'America/New_York'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"timezone {name!r} is not a known IANA time zone (e.g. 'UTC', 'Europe/Berlin',"
            " 'America/New_York')"
        ) from None


def _add_months(when: datetime, months: int) -> datetime:
    year, month = divmod(when.month - 1 + months, 12)
    year += when.year
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A schedule as the control plane stores it: ``kind`` is ``cron`` or ``period``."""

    kind: Literal["cron", "period"]
    cron: str = ""
    timezone: str = "UTC"
    months: int = 0  # a period's calendar months (years count as 12)
    seconds: float = 0.0  # a period's fixed part

    def describe(self) -> str:
        if self.kind == "cron":
            return f"cron {self.cron!r} {self.timezone}"
        months = f"{self.months} months " if self.months else ""
        return f"every {months}{timedelta(seconds=self.seconds) if self.seconds else ''}".strip()

    def check(self) -> None:
        """Raise ScheduleError unless this schedule can fire."""
        if self.kind == "cron":
            tz = parse_timezone(self.timezone)
            CronExpression.parse(self.cron).next_after(time.time(), tz)  # raises if it never fires
        elif self.kind == "period":
            if isinstance(self.months, bool) or not isinstance(self.months, int):
                raise ScheduleError(f"period months={self.months!r} must be an int")
            if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
                raise ScheduleError(f"period seconds={self.seconds!r} must be a number")
            if self.months < 0 or self.seconds < 0 or (self.months == 0 and self.seconds < 1):
                raise ScheduleError(
                    f"a period must be positive and at least one second long (got months="
                    f"{self.months}, seconds={self.seconds})"
                )
        else:
            raise ScheduleError(f"schedule kind {self.kind!r} is not 'cron' or 'period'")

    def next_after(self, after: float, anchor: float) -> float:
        """The first firing strictly after ``after``. A period counts from ``anchor`` (when the
        function was deployed), a cron expression from the wall clock."""
        if self.kind == "cron":
            return CronExpression.parse(self.cron).next_after(after, parse_timezone(self.timezone))
        if self.months == 0:
            n = max(1, int((after - anchor) // self.seconds) + 1)
            when = anchor + n * self.seconds
            return when if when > after else when + self.seconds
        start = datetime.fromtimestamp(anchor, timezone.utc)
        n = 1
        while True:
            moment = _add_months(start, n * self.months) + timedelta(seconds=n * self.seconds)
            if moment.timestamp() > after:
                return moment.timestamp()
            n += 1
