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


def round_trip(
    call: Callable[[Any], Any], warmup: int, count: int, budget_s: float, arg: Any = None
) -> RoundTrip:
    latencies(call, warmup, budget_s, arg)
    samples = latencies(call, count, budget_s, arg)
    return RoundTrip(percentile(samples, 50) * 1e3, percentile(samples, 99) * 1e3, len(samples))


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
