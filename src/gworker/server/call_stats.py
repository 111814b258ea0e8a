"""Recent calls per function, in memory: calls per minute, latency percentiles, errors, and the
last inputs with their status, duration, attempts and (for a failure) the remote traceback.

The dashboard and ``gw advise --app`` read it. It is a window on the recent past (it starts empty
after a restart); what must survive a restart (outputs, usage) is in the store.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

from gworker_client._protocol import ContainerOutput, OutputStatus

from .scheduler.state import FunctionState, Input

log = logging.getLogger("gworker.call_stats")
WINDOW_S = 24 * 3600.0
MAX_FINISHED = 100_000  # per function, within the window
RECENT = 100  # inputs kept whole per function
TRACEBACK_MAX = 20_000


@dataclass(frozen=True)
class Finished:
    ts: float
    duration: float
    ok: bool


@dataclass(frozen=True)
class RecentInput:
    call_id: str
    idx: int
    status: str
    duration: float
    attempts: int
    container_id: str
    ts: float
    error: str = ""  # "Type: message"
    traceback: str = ""


class FinishedRing:
    """A function's last ``capacity`` finished inputs, oldest first, in 17 bytes each: times and
    durations in arrays of doubles, outcomes in a bytearray (a deque of ``Finished`` objects
    held about 150 bytes each, 15 MB a busy function kept for a day)."""

    def __init__(self, capacity: int = MAX_FINISHED) -> None:
        self.capacity = capacity
        self.ts, self.durations, self.ok = array("d"), array("d"), bytearray()
        self.oldest = 0  # where the oldest is, once full

    def append(self, f: Finished) -> None:
        if len(self.ts) < self.capacity:
            self.ts.append(f.ts)
            self.durations.append(f.duration)
            self.ok.append(f.ok)
            return
        i = self.oldest
        self.ts[i], self.durations[i], self.ok[i] = f.ts, f.duration, f.ok
        self.oldest = (i + 1) % self.capacity

    def __len__(self) -> int:
        return len(self.ts)

    def __iter__(self) -> Iterator[Finished]:
        n = len(self.ts)
        for k in range(n):
            i = (self.oldest + k) % n
            yield Finished(self.ts[i], self.durations[i], bool(self.ok[i]))

    @property
    def newest(self) -> float:
        return self.ts[(self.oldest - 1) % len(self.ts)] if self.ts else 0.0


@dataclass
class FunctionCalls:
    finished: FinishedRing = field(default_factory=FinishedRing)
    recent: deque[RecentInput] = field(default_factory=lambda: deque(maxlen=RECENT))


def _error(out: ContainerOutput) -> tuple[str, str]:
    if out.status is OutputStatus.SUCCESS:
        return "", ""
    try:  # an error envelope is msgpack built by the SDK; its pickle is never touched here
        env = msgpack.unpackb(out.data, raw=False)
        return f"{env.get('type')}: {env.get('message')}", str(env.get("traceback") or "")[
            -TRACEBACK_MAX:
        ]
    except Exception:
        return out.status.value, ""


# Every this many recorded inputs, functions with none in the window are forgotten.
FORGET_EVERY = 4096


class CallStats:
    def __init__(self) -> None:
        self.by_function: dict[tuple[str, str], FunctionCalls] = {}  # (app id, tag) ->
        self._recorded = 0

    def completed(self, fs: FunctionState, cid: str, inp: Input, out: ContainerOutput) -> None:
        """An input finished (called inside the queue's completion: it never raises into it)."""
        try:
            self._record(fs, cid, inp, out)
        except Exception:
            log.exception("recording a finished input of %s failed", fs.tag)

    def _record(self, fs: FunctionState, cid: str, inp: Input, out: ContainerOutput) -> None:
        now = time.time()
        self._recorded += 1
        if self._recorded % FORGET_EVERY == 0:
            self._forget_idle(now)
        calls = self.by_function.setdefault((fs.app_id, fs.tag), FunctionCalls())
        ok = out.status is OutputStatus.SUCCESS
        calls.finished.append(Finished(now, out.duration, ok))
        error, tb = _error(out)
        calls.recent.append(
            RecentInput(
                inp.call_id,
                inp.idx,
                out.status.value,
                out.duration,
                inp.attempts,
                cid,
                now,
                error,
                tb,
            )
        )

    def _forget_idle(self, now: float) -> None:
        """Functions nothing ran for in the window (stopped apps, old versions) take no memory."""
        for key, calls in list(self.by_function.items()):
            if calls.finished.newest < now - WINDOW_S:
                del self.by_function[key]

    def summary(self, app_id: str, tag: str, since_s: float = 3600.0) -> dict[str, Any]:
        """Calls in the last ``since_s`` seconds: count, per minute, errors, p50/p90/p99 (s)."""
        calls = self.by_function.get((app_id, tag))
        cutoff = time.time() - since_s
        window = [f for f in calls.finished if f.ts >= cutoff] if calls else []
        durations = sorted(f.duration for f in window)
        return {
            "calls": len(window),
            "calls_per_min": len(window) / (since_s / 60),
            "errors": sum(not f.ok for f in window),
            "p50": _percentile(durations, 0.5),
            "p90": _percentile(durations, 0.9),
            "p99": _percentile(durations, 0.99),
            "mean_s": sum(durations) / len(durations) if durations else None,
        }

    def recent(self, app_id: str, tag: str) -> list[RecentInput]:
        calls = self.by_function.get((app_id, tag))
        return list(calls.recent)[::-1] if calls else []

    def per_minute(self, app_id: str, tag: str, minutes: int = 30) -> list[int]:
        """Calls finished in each of the last ``minutes`` minutes, oldest first."""
        calls = self.by_function.get((app_id, tag))
        now = time.time()
        counts = [0] * minutes
        for f in calls.finished if calls else ():
            age = int((now - f.ts) // 60)
            if age < minutes:
                counts[minutes - 1 - age] += 1
        return counts


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]
