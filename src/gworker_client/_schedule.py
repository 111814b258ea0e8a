"""``gw.Cron`` and ``gw.Period``: when a function runs on its own (``@app.function(schedule=...)``).

Schedules fire for deployed apps, and for an app under ``gw run`` / ``with app.run():`` only
while that run lasts, as on Modal. The control plane fires them (see ``gworker.server.schedules``).
"""

from __future__ import annotations

from ._protocol.schedule import ScheduleError, ScheduleSpec
from .exception import InvalidError


class Schedule:
    """The base of ``Cron`` and ``Period``."""

    _spec: ScheduleSpec

    def to_spec(self) -> ScheduleSpec:
        return self._spec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self._spec == other._spec

    def __hash__(self) -> int:
        return hash(self._spec)


class Cron(Schedule):
    """Run on a cron schedule: ``gw.Cron("0 8 * * *", timezone="America/New_York")``.

    Five fields (minute hour day-of-month month day-of-week) with ``*``, ranges, lists, steps and
    month/day names, or a macro such as ``@daily``. Times are in ``timezone`` (default UTC),
    daylight-saving changes included.
    """

    def __init__(self, cron_string: str, timezone: str = "UTC") -> None:
        spec = ScheduleSpec(kind="cron", cron=cron_string, timezone=timezone)
        try:
            spec.check()
        except ScheduleError as e:
            raise InvalidError(f"gw.Cron: {e}") from None
        self._spec = spec
        self.cron_string = cron_string
        self.timezone = timezone

    def __repr__(self) -> str:
        return f"Cron({self.cron_string!r}, timezone={self.timezone!r})"


class Period(Schedule):
    """Run every fixed interval, counted from when the app was deployed (or ``gw run``):
    ``gw.Period(hours=5)``. Months and years are calendar months (a month from Jan 31 is
    Feb 28 or 29)."""

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> None:
        numbers = {
            "years": years,
            "months": months,
            "weeks": weeks,
            "days": days,
            "hours": hours,
            "minutes": minutes,
            "seconds": seconds,
        }
        for name, value in numbers.items():
            whole = name in ("years", "months")
            ok = int if whole else (int, float)
            if isinstance(value, bool) or not isinstance(value, ok) or value < 0:
                kind = "a non-negative int" if whole else "a non-negative number"
                raise InvalidError(f"gw.Period({name}={value!r}): expected {kind}")
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days + 7 * 86400 * weeks
        spec = ScheduleSpec(kind="period", months=12 * years + months, seconds=float(total))
        try:
            spec.check()
        except ScheduleError as e:
            raise InvalidError(f"gw.Period: {e}") from None
        self._spec = spec
        self._given = {k: v for k, v in numbers.items() if v}

    def __repr__(self) -> str:
        return "Period(" + ", ".join(f"{k}={v!r}" for k, v in self._given.items()) + ")"
