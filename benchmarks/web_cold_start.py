"""Cold start of a web endpoint: the first request to a function with no container, until its
answer, for a ``@web_server`` (on the local backend, a container with a network of its own:
slirp4netns and a port forward) and an ``@asgi_app`` (the host's network), in alternating rounds;
then the warm latency of sequential requests through the gateway (p50/p99) for each, which for
the ``web_server`` includes slirp4netns's hop.

    .venv/bin/python benchmarks/web_cold_start.py [ROUNDS]

Each round waits for the function to scale back to zero (``scaledown_window=2``) before its
request. Prints each kind's median and spread, and the machine's load average.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import web_cold_app  # noqa: E402
from _server import local_control_plane  # noqa: E402
from measure import percentile  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ZERO_WAIT_S = 60.0
WARM_REQUESTS = 300


def _cold(fn: object, url: str) -> float:
    deadline = time.monotonic() + ZERO_WAIT_S
    while fn.get_current_stats().num_total_runners:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise RuntimeError("the function did not scale to zero")
        time.sleep(0.1)
    started = time.perf_counter()
    r = httpx.get(url, timeout=120)
    elapsed = time.perf_counter() - started
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return elapsed


def _warm(url: str) -> tuple[float, float]:
    """p50 and p99 (ms) of sequential requests on one keep-alive connection."""
    with httpx.Client(timeout=60) as client:
        client.get(url)
        latencies = []
        for _ in range(WARM_REQUESTS):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1e3)
    return percentile(latencies, 50), percentile(latencies, 99)


def main() -> None:
    with local_control_plane(), web_cold_app.app.run():
        kinds = {"web_server": web_cold_app.server, "asgi_app": web_cold_app.asgi}
        urls = {k: fn.get_web_url() for k, fn in kinds.items()}
        for k, fn in kinds.items():  # the image and code are cached: not part of a cold start
            _cold(fn, urls[k])
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(ROUNDS):
            for k, fn in kinds.items():
                times[k].append(_cold(fn, urls[k]))
        warm = {k: _warm(url) for k, url in urls.items()}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"web endpoints, {ROUNDS} cold rounds, load average {load}, {os.cpu_count()} cores")
    for k, ts in times.items():
        ms = sorted(t * 1e3 for t in ts)
        median = statistics.median(ms)
        p50, p99 = warm[k]
        print(
            f"  {k:10s} cold median {median:5.0f} ms  min {ms[0]:.0f}  max {ms[-1]:.0f}"
            f"   warm p50 {p50:.2f} ms  p99 {p99:.2f} ms"
        )


if __name__ == "__main__":
    main()
