"""Recent calls per function: rates, percentiles, errors and a failure's remote traceback, read
from the SDK's error envelope without touching its pickle."""

from __future__ import annotations

import time

from gworker.server.call_stats import CallStats
from gworker.server.scheduler.state import FunctionState, Input
from gworker_client._protocol import ContainerOutput, FunctionSpec, OutputStatus, error_envelope

SPEC = FunctionSpec(
    timeout=60.0, cpu=0.125, memory=128, min_workers=0, max_workers=4, buffer_workers=0,
    idle_timeout=60.0, image={"version": 1, "layers": []},
)  # fmt: skip
FS = FunctionState("fu-1", "ap-1", "f", SPEC, "m", "b", True)


def _done(stats: CallStats, n: int, duration: float, status: OutputStatus, data: bytes) -> None:
    out = ContainerOutput(input_id=n, status=status, data=data, duration=duration)
    stats.completed(FS, "ct-1", Input(n, f"fc-{n}", 0, "fu-1", b""), out)


def test_rates_percentiles_errors_and_tracebacks() -> None:
    stats = CallStats()
    for n in range(1, 100):
        _done(stats, n, n / 100, OutputStatus.SUCCESS, b"result")
    envelope = error_envelope("ValueError", "bad input", "Traceback ...\nValueError: bad input")
    _done(stats, 100, 1.0, OutputStatus.FAILURE, envelope)
    _done(stats, 101, 0.5, OutputStatus.FAILURE, b"not an envelope")
    summary = stats.summary("ap-1", "f")
    assert summary["calls"] == 101 and summary["errors"] == 2
    assert summary["p50"] == 0.5 and summary["p99"] == 0.99  # nearest rank of 101
    assert stats.per_minute("ap-1", "f", 5)[-1] == 101
    newest, failed = stats.recent("ap-1", "f")[:2]
    assert newest.status == "failure" and newest.traceback == ""  # unreadable: status only
    assert failed.error == "ValueError: bad input" and "Traceback" in failed.traceback
    assert stats.summary("ap-1", "other")["calls"] == 0


def test_the_finished_ring_keeps_the_newest_in_order() -> None:
    from gworker.server.call_stats import Finished, FinishedRing

    ring = FinishedRing(capacity=3)
    assert list(ring) == [] and ring.newest == 0.0
    for n in range(5):
        ring.append(Finished(float(n), n / 10, n % 2 == 0))
    assert [(f.ts, f.ok) for f in ring] == [(2.0, True), (3.0, False), (4.0, True)]
    assert len(ring) == 3 and ring.newest == 4.0


def test_functions_idle_past_the_window_are_forgotten() -> None:
    from gworker.server import call_stats

    stats = CallStats()
    _done(stats, 1, 0.1, OutputStatus.SUCCESS, b"r")
    assert ("ap-1", "f") in stats.by_function
    stats._forget_idle(time.time() + call_stats.WINDOW_S + 60)
    assert stats.by_function == {}
