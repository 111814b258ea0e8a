"""Schedules: the control plane runs ``schedule=gw.Cron(...)``/``gw.Period(...)`` functions.

Every live function of a running app with a schedule fires on its ticks (deployed apps always,
``gw run`` apps while the run lasts). Each tick becomes one call whose id is derived from
(app, function, tick), recorded in ``schedule_runs`` in the same transaction that stores the call:
a tick never runs twice, also across restarts and redeploys.

Ticks missed while the control plane was down: when it comes back, a schedule whose tick passed
runs once at once (for the latest missed period, as cron's "persistent" timers do), and the earlier
missed ticks are skipped; the run's log line says how many were skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import pickle
import time
from dataclasses import dataclass
from typing import Any

import msgpack
import msgspec

from gworker_client._protocol import from_builtins
from gworker_client._protocol.schedule import ScheduleError, ScheduleSpec

from ..store.contract import StateStore
from .scheduler import Scheduler

log = logging.getLogger("gworker.server")

# The input of a scheduled call: no arguments (a plain pickle; the server never unpickles).
NO_ARGS = pickle.dumps(((), {}), protocol=4)
# Even with nothing due, look again this often (a clock jump, a missed wake-up).
MAX_SLEEP_S = 30.0
# How long a fired call's outcome is waited for, to log it.
OUTCOME_WAIT_S = 24 * 3600.0


@dataclass(frozen=True)
class Scheduled:
    """A live function with a schedule."""

    function_id: str
    app_id: str
    tag: str
    schedule: ScheduleSpec
    deployed_at: float


class ScheduleRunner:
    def __init__(self, store: StateStore, scheduler: Scheduler) -> None:
        self.store = store
        self.scheduler = scheduler
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watchers: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        for task in [self._task, *self._watchers]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def changed(self) -> None:
        """Apps were published or stopped: look at the schedules again now."""
        self._changed.set()

    def scheduled(self, app_id: str | None = None) -> list[Scheduled]:
        out = []
        for row in self.store.functions(live_only=True):
            raw = row["spec"].get("schedule")
            if not raw or row["parent_id"] or (app_id and row["app_id"] != app_id):
                continue
            try:
                spec = from_builtins(raw, ScheduleSpec)
                spec.check()
            except (
                ScheduleError,
                msgspec.ValidationError,
            ) as e:  # stored by an older version, say: never stop the loop
                log.error("function %s has a bad schedule %r: %s", row["id"], raw, e)
                continue
            out.append(Scheduled(row["id"], row["app_id"], row["tag"], spec, row["created_at"]))
        return out

    def next_run(self, s: Scheduled) -> float:
        last = self.store.last_schedule_run(s.app_id, s.tag)
        cursor = max(last) if last else s.deployed_at
        return s.schedule.next_after(cursor, anchor=s.deployed_at)

    def next_runs(self, app_id: str) -> list[dict[str, Any]]:
        return [
            {"function": s.tag, "schedule": s.schedule.describe(), "next_run": self.next_run(s)}
            for s in self.scheduled(app_id)
        ]

    async def _loop(self) -> None:
        while True:
            self._changed.clear()
            try:
                wake = self.fire_due(time.time())
            except Exception:  # one bad state must not end scheduling for everyone
                log.exception("firing schedules failed")
                wake = time.time() + MAX_SLEEP_S
            delay = min(max(wake - time.time(), 0.0), MAX_SLEEP_S)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), delay)

    def fire_due(self, now: float) -> float:
        """Fire every tick that is due; return when the next one is."""
        earliest = now + MAX_SLEEP_S
        for s in self.scheduled():
            due = self.next_run(s)
            if due <= now:
                missed = 0
                following = s.schedule.next_after(due, anchor=s.deployed_at)
                while following <= now and missed < 1000:
                    due, missed = following, missed + 1
                    following = s.schedule.next_after(due, anchor=s.deployed_at)
                self._fire(s, due, now, missed)
                due = following
            earliest = min(earliest, due)
        return earliest

    def _fire(self, s: Scheduled, tick: float, now: float, missed: int) -> None:
        key = f"{s.app_id}/{s.tag}/{tick!r}".encode()
        call_id = "fc-" + hashlib.sha256(key).hexdigest()[:32]
        if not self.store.add_schedule_run(s.app_id, s.tag, tick, call_id, now, missed):
            return
        when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(tick))
        note = f" ({missed} earlier ticks missed while the server was down)" if missed else ""
        try:
            self.scheduler.submit(s.function_id, call_id, [(0, NO_ARGS)], 1)
        except Exception as e:  # the call could not be made: say so where the user looks
            self.store.commit()
            self._log(s, f"schedule: {s.tag} could not run for {when}: {e}")
            return
        self._log(s, f"schedule: {s.tag} started for {when}{note} (call {call_id})")
        watcher = asyncio.get_running_loop().create_task(self._outcome(s, call_id))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _outcome(self, s: Scheduled, call_id: str) -> None:
        started = time.monotonic()
        rows: list[Any] = []
        while not rows and time.monotonic() - started < OUTCOME_WAIT_S:
            rows, _ = await self.scheduler.wait_outputs(call_id, 0, 60.0)
        if not rows:
            return
        _, _, status, data = rows[0]
        took = time.monotonic() - started
        if status == "success":
            self._log(s, f"schedule: {s.tag} succeeded in {took:.1f}s (call {call_id})")
        else:
            self._log(s, f"schedule: {s.tag} failed ({status}): {_message(data)} (call {call_id})")

    def _log(self, s: Scheduled, text: str) -> None:
        self.scheduler.app_log(s.app_id, "schedule", text + "\n")


def _message(envelope: bytes) -> str:
    try:
        value = msgpack.unpackb(envelope)
    except Exception:
        return "an undecodable error"
    if not isinstance(value, dict):
        return str(value)
    kind = str(value.get("type", "Error")).removeprefix("builtins.")
    return f"{kind}: {value.get('message', '')}"
