"""Sandbox start-up: create-to-first-output, beside a bare ``subprocess.run`` of the same command.

``python benchmarks/sandbox.py`` starts a private control plane, builds the default image once
(cached from then on), then measures:

- sequential: 50 times ``Sandbox.create("echo", "ready", app=app)`` until its first line of stdout
  has arrived at the caller, and 50 times ``subprocess.run(["echo", "ready"])`` on the host;
- concurrent: 20 sandboxes created at once from 20 threads, each until its first output (all up,
  the median and the slowest).

Target: a median create-to-first-output of at most 0.1 s on a cached image. The numbers depend on
the machine and on whatever else runs on it: the load average is printed beside them.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import local_control_plane  # noqa: E402

import gworker_client as gw  # noqa: E402

SEQUENTIAL = 50
CONCURRENT = 20
TARGET_S = 0.1


def first_output(app: gw.App) -> float:
    start = time.perf_counter()
    sb = gw.Sandbox.create("echo", "ready", app=app)
    line = next(iter(sb.stdout))
    elapsed = time.perf_counter() - start
    if line != "ready\n":
        raise AssertionError(f"unexpected first output {line!r}")
    return elapsed


def bare() -> float:
    start = time.perf_counter()
    subprocess.run(["echo", "ready"], check=True, capture_output=True)
    return time.perf_counter() - start


def concurrent(app: gw.App) -> tuple[float, list[float]]:
    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        each = list(pool.map(lambda _: first_output(app), range(CONCURRENT)))
    return time.perf_counter() - start, each


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> None:
    load = os.getloadavg()[0]
    with local_control_plane():
        app = gw.App.lookup("sandbox-bench", create_if_missing=True)
        first_output(app)  # builds the default image (once) and fills the warm pool
        sandboxes = [first_output(app) for _ in range(SEQUENTIAL)]
        subprocesses = [bare() for _ in range(SEQUENTIAL)]
        all_up, each = concurrent(app)
    median = statistics.median(sandboxes)
    rows = [
        ("sandbox create-to-first-output, median of 50", ms(median)),
        ("sandbox create-to-first-output, p90 of 50", ms(_p90(sandboxes))),
        ("bare subprocess.run, median of 50", ms(statistics.median(subprocesses))),
        ("20 concurrent: all up", ms(all_up)),
        ("20 concurrent: median", ms(statistics.median(each))),
        ("20 concurrent: max", ms(max(each))),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measurement'.ljust(width)} | {'time':>11} |")
    print(f"| {'-' * width} | {'-' * 11} |")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value:>11} |")
    verdict = "met" if median <= TARGET_S else "missed"
    print(f"\ntarget median <= {TARGET_S * 1000:.0f} ms: {verdict}")
    after = os.getloadavg()[0]
    print(f"load average: {load:.2f} before, {after:.2f} after ({os.cpu_count()} cpus)")


def _p90(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.9) - 1]


if __name__ == "__main__":
    main()
