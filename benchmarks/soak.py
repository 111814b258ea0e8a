"""A soak: a private control plane under steady load for a long while.

``python benchmarks/soak.py --duration 1800 --rate 1000`` offers ``--rate`` calls per second
(or as many as the machine manages) of mixed sizes for ``--duration`` seconds: ``.remote()``
calls from ``--clients`` threads (arguments of 64 B, 16 KiB and 1 MiB, 80/18/2 %) and one thread
running ``.map`` over batches of 500 small inputs. Every ``--interval`` seconds it prints a row:
calls completed per second, the p50 and p99 latency of ``.remote()`` calls, errors, and the
server's resident memory; at the end, the memory after an idle minute beside the memory before
the load (it should come back near its baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # containers import bench_app

import bench_app  # noqa: E402
from _server import local_control_plane  # noqa: E402

SIZES = [(64, 0.80), (16 * 1024, 0.18), (1024 * 1024, 0.02)]
MAP_BATCH = 500


@dataclass
class Window:
    """What happened during one reporting interval."""

    latencies: list[float] = field(default_factory=list)
    completed: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency: float | None, n: int = 1) -> None:
        with self.lock:
            self.completed += n
            if latency is not None:
                self.latencies.append(latency)

    def fail(self) -> None:
        with self.lock:
            self.errors += 1

    def take(self) -> tuple[list[float], int, int]:
        with self.lock:
            out = (self.latencies, self.completed, self.errors)
            self.latencies, self.completed, self.errors = [], 0, 0
            return out


def server_rss_mib() -> float:
    """Resident memory of the control plane (its pid from GW_HOME/server.json)."""
    info = json.loads((Path(os.environ["GW_HOME"]) / "server.json").read_text())
    for line in Path(f"/proc/{info['pid']}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def payload(rng: random.Random) -> bytes:
    size = rng.choices([s for s, _ in SIZES], [w for _, w in SIZES])[0]
    return rng.randbytes(size)


def remote_client(stop: threading.Event, window: Window, pace_s: float, seed: int) -> None:
    rng = random.Random(seed)
    next_at = time.monotonic()
    while not stop.is_set():
        data = payload(rng)
        start = time.monotonic()
        try:
            assert bench_app.soak_echo.remote(data) == len(data)
            window.add(time.monotonic() - start)
        except Exception:
            window.fail()
        next_at += pace_s
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the offered rate: a load generator's pacing, not a data-path wait
        else:
            next_at = time.monotonic()  # behind: run flat out, do not bank the debt


def map_client(stop: threading.Event, window: Window, pace_s: float) -> None:
    small = [b"x" * 64] * MAP_BATCH
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            for _ in bench_app.soak_echo.map(small):
                window.add(None)
        except Exception:
            window.fail()
        next_at += pace_s
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.monotonic()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def soak(duration: float, rate: float, clients: int, interval: float, idle: float) -> None:
    console = Console()
    table = Table(title=f"soak: {duration:.0f} s offered {rate:g} calls/s ({os.cpu_count()} cores)")
    for column in ("t (s)", "calls/s", "remote p50 ms", "remote p99 ms", "errors", "server MiB"):
        table.add_column(column, justify="right")
    with local_control_plane(), bench_app.soak_app.run():
        bench_app.soak_echo.remote(b"warm")
        baseline = server_rss_mib()
        table.add_row("0", "-", "-", "-", "-", f"{baseline:.0f}")
        # three quarters of the offered rate through .remote(), the rest through .map
        pace = clients / (rate * 0.75)
        window, stop = Window(), threading.Event()
        threads = [
            threading.Thread(target=remote_client, args=(stop, window, pace, i), daemon=True)
            for i in range(clients)
        ]
        map_pace = MAP_BATCH / (rate * 0.25)
        threads.append(
            threading.Thread(target=map_client, args=(stop, window, map_pace), daemon=True)
        )
        for t in threads:
            t.start()
        started = time.monotonic()
        p99s, rates = [], []
        try:
            while (elapsed := time.monotonic() - started) < duration:
                time.sleep(min(interval, duration - elapsed))
                latencies, completed, errors = window.take()
                p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
                per_s = completed / interval
                rates.append(per_s)
                p99s.append(p99)
                table.add_row(
                    f"{time.monotonic() - started:.0f}",
                    f"{per_s:.0f}",
                    f"{p50 * 1000:.1f}",
                    f"{p99 * 1000:.1f}",
                    str(errors),
                    f"{server_rss_mib():.0f}",
                )
                console.print(
                    table.rows[-1] and f"t={time.monotonic() - started:.0f}s {per_s:.0f}/s"
                )
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        time.sleep(idle)  # after the load: does memory come back?
        after = server_rss_mib()
    console.print(table)
    console.print(
        f"mean {statistics.fmean(rates):.0f} calls/s, worst interval p99"
        f" {max(p99s) * 1000:.1f} ms; server memory {baseline:.0f} MiB before the load,"
        f" {after:.0f} MiB after {idle:.0f} s idle"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered calls per second")
    parser.add_argument("--clients", type=int, default=16, help="threads calling .remote()")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds per table row")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds after the load")
    args = parser.parse_args()
    soak(args.duration, args.rate, args.clients, args.interval, args.idle)


if __name__ == "__main__":
    main()
