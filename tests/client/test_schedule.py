"""Cron and Period: validation at construction and the firing arithmetic (DST included)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

import gworker_client as gw
from gworker_client._protocol.schedule import CronExpression, ScheduleError, ScheduleSpec

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def ts(*args: int, tz: ZoneInfo = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def utc(when: float) -> datetime:
    return datetime.fromtimestamp(when, timezone.utc).replace(tzinfo=None)


def nxt(expr: str, after: float, tz: ZoneInfo = UTC) -> datetime:
    return utc(CronExpression.parse(expr).next_after(after, tz))


def test_daily_hourly_and_steps():
    assert nxt("0 8 * * *", ts(2026, 1, 1, 7, 0)) == datetime(2026, 1, 1, 8, 0)
    assert nxt("0 8 * * *", ts(2026, 1, 1, 8, 0)) == datetime(2026, 1, 2, 8, 0)
    assert nxt("*/15 * * * *", ts(2026, 1, 1, 7, 1)) == datetime(2026, 1, 1, 7, 15)
    assert nxt("@hourly", ts(2026, 1, 1, 7, 1)) == datetime(2026, 1, 1, 8, 0)
    assert nxt("0 0 1 jan *", ts(2026, 6, 1)) == datetime(2027, 1, 1)
    assert nxt("0 9 * * mon-fri", ts(2026, 12, 5, 10)) == datetime(2026, 12, 7, 9)  # a Saturday


def test_day_of_month_or_day_of_week_as_cron_does():
    # the 13th, or any Friday: 2026-02-06 is a Friday, before the 13th
    assert nxt("0 0 13 * 5", ts(2026, 2, 1)) == datetime(2026, 2, 6)
    assert nxt("0 0 * * 7", ts(2026, 12, 1)) == datetime(2026, 12, 6)  # 7 is Sunday too


def test_named_timezone_follows_daylight_saving():
    # 08:00 New York is 13:00 UTC in winter and 12:00 UTC once DST starts (2026-03-08)
    assert nxt("0 8 * * *", ts(2026, 3, 7, 0), NY) == datetime(2026, 3, 7, 13)
    assert nxt("0 8 * * *", ts(2026, 3, 8, 0), NY) == datetime(2026, 3, 8, 12)


def test_a_skipped_local_time_fires_an_hour_later():
    # 02:30 does not exist on 2026-03-08 in New York: it fires at 03:30 EDT (07:30 UTC)
    assert nxt("30 2 * * *", ts(2026, 3, 7, 12), NY) == datetime(2026, 3, 8, 7, 30)


def test_a_repeated_local_time_fires_once():
    # 01:30 happens twice on 2026-11-01 in New York: once, at the first (EDT, 05:30 UTC)
    first = CronExpression.parse("30 1 * * *").next_after(ts(2026, 10, 31, 12), NY)
    assert utc(first) == datetime(2026, 11, 1, 5, 30)
    assert nxt("30 1 * * *", first, NY) == datetime(2026, 11, 2, 6, 30)


def test_period_counts_from_its_anchor():
    spec = ScheduleSpec(kind="period", seconds=10)
    assert spec.next_after(after=105, anchor=100) == 110
    assert spec.next_after(after=110, anchor=100) == 120
    assert spec.next_after(after=50, anchor=100) == 110
    months = ScheduleSpec(kind="period", months=1)
    assert utc(months.next_after(ts(2026, 1, 31), ts(2026, 1, 31))) == datetime(2026, 2, 28)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 8 * *", "has 4 fields; expected 5"),
        ("60 * * * *", "outside the minute field's range 0-59"),
        ("*/0 * * * *", "step '0' in the minute field"),
        ("0 8 * foo *", "'foo' in the month field is not a number"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_bad_cron_expressions_name_the_problem(expr, message):
    with pytest.raises(gw.exception.InvalidError, match=message):
        gw.Cron(expr)


def test_bad_timezone_and_periods():
    with pytest.raises(gw.exception.InvalidError, match="'Mars/Olympus' is not a known IANA"):
        gw.Cron("0 8 * * *", timezone="Mars/Olympus")
    with pytest.raises(gw.exception.InvalidError, match="at least one second"):
        gw.Period()
    with pytest.raises(gw.exception.InvalidError, match=r"days=-1\): expected a non-negative"):
        gw.Period(days=-1)
    with pytest.raises(gw.exception.InvalidError, match=r"months=1.5\): expected a non-negative"):
        gw.Period(months=1.5)  # type: ignore[arg-type]
    assert repr(gw.Period(hours=5)) == "Period(hours=5)"
    with pytest.raises(ScheduleError, match="kind 'daily'"):
        ScheduleSpec(kind="daily").check()  # type: ignore[arg-type]


def greet(name):
    return name


def test_schedule_option_is_checked_at_decoration():
    app = gw.App("sched-checks")
    with pytest.raises(gw.exception.InvalidError, match="expected gw.Cron"):
        app.function(schedule="0 8 * * *")
    with pytest.raises(gw.exception.InvalidError, match="requires name"):
        app.function(schedule=gw.Period(hours=1))(greet)

    with pytest.raises(gw.exception.InvalidError, match="schedules run functions"):
        app.cls(schedule=gw.Period(hours=1))
