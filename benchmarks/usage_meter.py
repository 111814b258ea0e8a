"""What the usage meter costs the control plane: one tick over N containers (backend reads and
the store's inserts), and reading one container's usage from its cgroup or from /proc.

``python benchmarks/usage_meter.py`` prints milliseconds per tick (median of 7) for 10, 100 and
1000 containers against the fake backend and a store in memory, then microseconds per real
cgroup read and per /proc scan on this machine; no server needed.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import FakeBackend  # noqa: E402
from gworker.backends import limits  # noqa: E402
from gworker.backends.cgroups import Limits  # noqa: E402
from gworker.backends.metering import ResourceSample, scan_sessions  # noqa: E402
from gworker.server.scheduler.state import Container, FunctionState  # noqa: E402
from gworker.store import Store  # noqa: E402
from gworker.usage.meter import UsageMeter  # noqa: E402
from gworker_client._protocol import FunctionSpec  # noqa: E402

SPEC = FunctionSpec(
    timeout=60.0, cpu=1.0, memory=512, min_workers=0, max_workers=4, buffer_workers=0,
    idle_timeout=60.0, image={"version": 1, "layers": []},
)  # fmt: skip


def tick_ms(n: int) -> float:
    store = Store.in_memory()
    store.add_app("ap-1", "bench", "main", "deployed")
    backend = FakeBackend(capacity=n)
    fs = FunctionState("fu-1", "ap-1", "f", SPEC, "m", "b", True)
    containers = [Container(f"ct-{i}", fs, "t") for i in range(n)]
    for c in containers:
        backend.running[c.id] = None  # type: ignore[assignment]
        backend.usage[c.id] = ResourceSample(1.0, 100.0)
    meter = UsageMeter(store, backend, lambda: containers)
    meter.tick()  # the first tick records each container once
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        meter.tick()
        store.commit()
        runs.append((time.perf_counter() - start) * 1000)
    store.close()
    return statistics.median(runs)


def main() -> None:
    for n in (10, 100, 1000):
        print(f"tick over {n:5d} containers: {tick_ms(n):8.3f} ms")
    limiter = limits.detect()
    if limiter.cgroup is not None:
        limiter.prepare("bench-usage", Limits(memory_mib=256))
        start = time.perf_counter()
        for _ in range(1000):
            limiter.usage("bench-usage")
        per_read_us = (time.perf_counter() - start) * 1000  # 1000 reads: ms in total = us each
        print(f"one cgroup read ({limiter.mechanism}): {per_read_us:.1f} us")
        limiter.release("bench-usage")
    start = time.perf_counter()
    sessions = scan_sessions()
    ms = (time.perf_counter() - start) * 1000
    print(f"one /proc scan ({len(sessions)} sessions): {ms:.2f} ms")


if __name__ == "__main__":
    main()
