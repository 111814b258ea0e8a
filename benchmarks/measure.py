"""Timing helpers: every measurement is bounded both in count and in wall-clock time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RoundTrip:
    p50_ms: float
    p99_ms: float
    calls: int


@dataclass(frozen=True)
class Throughput:
    per_s: float
    runs: int
    inputs: int


def latencies(
    call: Callable[[Any], Any], count: int, budget_s: float, arg: Any = None
) -> list[float]:
    """Seconds per call of ``call(x)``, checking each result is ``x``; stop early when the
    budget ends. ``x`` is the call's number, or ``arg`` when given (the same for every call)."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    for i in range(count):
        x = i if arg is None else arg
        start = time.perf_counter()
        result = call(x)
        samples.append(time.perf_counter() - start)
        if result != x:
            raise AssertionError(f"call #{i} returned a wrong result ({type(result).__name__})")
        if start > deadline:
            break
    return samples


def percentile(samples: Sequence[float], q: int) -> float:
    """The q-th percentile (1..99), interpolated between closest ranks."""
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def round_trips(
    calls: dict[str, Callable[[Any], Any]],
    warmup: int,
    count: int,
    budget_s: float,
    arg: Any = None,
    rounds: int = 10,
) -> dict[str, RoundTrip]:
    """Latencies of several contenders, interleaved: ``rounds`` rounds in which each makes
    ``count / rounds`` calls in turn, so that a change in the machine's load while they run
    (on a shared machine, the rule) weighs on all of them alike. ``budget_s`` is each one's."""
    for call in calls.values():
        latencies(call, warmup, budget_s, arg)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name] += latencies(call, max(1, count // rounds), budget_s / rounds, arg)
    return {
        name: RoundTrip(percentile(s, 50) * 1e3, percentile(s, 99) * 1e3, len(s))
        for name, s in samples.items()
    }


def throughput(
    run_map: Callable[[range], list[Any]], inputs: int, runs: int, budget_s: float
) -> Throughput:
    """Median inputs/s of ``run_map(range(inputs))`` over up to ``runs`` timed runs, after one
    untimed warm-up run; later runs are skipped once the budget is spent."""
    timed_map(run_map, range(inputs))
    rates: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(rates) < runs and (not rates or time.perf_counter() < deadline):
        rates.append(inputs / timed_map(run_map, range(inputs)))
    return Throughput(statistics.median(rates), len(rates), inputs)


def timed_map(run_map: Callable[[range], list[Any]], xs: range) -> float:
    """Seconds ``run_map(xs)`` took; its results are checked after the clock stops."""
    start = time.perf_counter()
    results = run_map(xs)
    seconds = time.perf_counter() - start
    if list(results) != list(xs):
        raise AssertionError("a map returned wrong results")
    return seconds
