"""How many containers a function should have: a pure function of a snapshot and the clock.

``desired`` decides; the fleet acts (starts containers while the backend has room). Keeping the
decision pure lets it be tested without processes, and lets a future backend (or a dashboard)
ask "what would the autoscaler do" without side effects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .state import FunctionState

# A start-up shorter than this is not believed: it would make any backlog look worth a container.
MIN_START_S = 0.05


@dataclass(frozen=True)
class Snapshot:
    """What the autoscaler needs to know about one function at one moment."""

    live: bool  # the function's app is running (a retired one only drains)
    pending: int  # inputs queued
    inflight: int  # inputs leased to its active containers
    active: int  # containers not stopping
    target_inputs: int  # inputs per container the function aims for
    min_workers: int
    max_workers: int
    buffer_workers: int
    mean_run_s: float | None  # the function's mean run time, once known
    lease_started: tuple[float, ...]  # when each busy container's current lease began
    mean_start_s: float  # how long a container takes to start, on this backend
    web_load: int = 0  # web requests in flight or held by the gateway
    web_target: int = 1  # web requests per container the function aims for
    # containers that retire (max_inputs reached) but still run their last inputs or exit
    # hooks: not counted as capacity, but still counted against max_workers
    retiring: int = 0

    @property
    def load(self) -> int:
        return self.pending + self.inflight


def desired(snapshot: Snapshot, now: float) -> int:
    """The number of active containers the function should have now."""
    s = snapshot
    want = min(math.ceil(s.load / s.target_inputs), worth_starting(s, now))
    want = max(want, math.ceil(s.web_load / s.web_target))
    if (s.load or s.web_load) and s.live:
        want += s.buffer_workers
    if s.live:
        want = max(want, s.min_workers)
    return max(0, min(want, s.max_workers - s.retiring))


def worth_starting(s: Snapshot, now: float) -> int:
    """How many containers the backlog justifies: a new container must have more work to do than
    its own start-up costs, else the running ones finish sooner without it."""
    running = [now - started for started in s.lease_started]
    per_input = max([s.mean_run_s or 0.0, *running])
    if per_input <= 0:
        return 1
    work = s.load * per_input / s.target_inputs
    return max(1, math.ceil(work / max(s.mean_start_s, MIN_START_S)))


def snapshot(fs: FunctionState, mean_start_s: float) -> Snapshot:
    """The snapshot of a function's in-memory state."""
    active = fs.active()
    spec = fs.spec
    return Snapshot(
        live=fs.live,
        pending=len(fs.pending),
        inflight=sum(len(c.leased) for c in active),
        active=len(active),
        target_inputs=fs.target_inputs,
        min_workers=spec.min_workers,
        max_workers=spec.max_workers,
        buffer_workers=spec.buffer_workers,
        mean_run_s=fs.mean_run_s,
        lease_started=tuple(c.lease_started for c in fs.containers.values() if c.leased),
        mean_start_s=mean_start_s,
        web_load=fs.web_load(),
        web_target=fs.web_target,
        retiring=sum(1 for c in fs.containers.values() if c.retiring),
    )
