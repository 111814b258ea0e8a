"""The web gateway's cost: one trivial ASGI app served directly by uvicorn and through gworker's
gateway (a container running the same app under the same uvicorn), side by side in one run.

    .venv/bin/python benchmarks/gateway.py [--rounds 5]

Both servers run at once and are measured in alternating rounds, so a busy moment on the machine
hits both. Each round: sequential requests on one keep-alive connection (latency p50/p99 over all
rounds), then CONCURRENCY keep-alive connections for a fixed number of requests (requests/s,
median of the rounds); the serving processes' CPU time per request is read from /proc. The load
generator is ``http_load.py``'s lean one unless ``--client aiohttp``. Targets: the gateway
keeps at least half of direct uvicorn's throughput, and its p50 is within 1 ms of it. Every
measurement is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import web_bench_app  # noqa: E402
from _server import local_control_plane  # noqa: E402
from http_load import CLIENTS, Client, open_client  # noqa: E402
from measure import percentile  # noqa: E402

CONCURRENCY = 16
ROUNDS = 5  # the two contenders alternate, so a busy moment on the machine hits both
THROUGHPUT_REQUESTS = 5000  # per round: about a second, to smooth out a scheduling hiccup
LATENCY_REQUESTS = 500  # per round
WARMUP_REQUESTS = 200
BUDGET_S = 60.0
THROUGHPUT_TARGET = 0.5
P50_TARGET_MS = 1.0


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # of the serving processes, over every timed request
    requests: int = 0

    @property
    def cpu_us(self) -> float | None:
        return self.cpu_s / self.requests * 1e6 if self.cpu_s else None

    @property
    def per_s(self) -> float:
        return statistics.median(self.rates)

    def ms(self, q: int) -> float:
        return percentile(self.latencies, q) * 1e3


async def _round(client: Client, into: Samples) -> None:
    """Sequential requests for latency, then CONCURRENCY connections for throughput."""
    for _ in range(LATENCY_REQUESTS):
        start = time.perf_counter()
        await client.get(0)
        into.latencies.append(time.perf_counter() - start)
    left = [THROUGHPUT_REQUESTS]

    async def worker(slot: int) -> int:
        done = 0
        while left[0] > 0:
            left[0] -= 1
            await client.get(slot)
            done += 1
        return done

    start = time.perf_counter()
    counts = await asyncio.gather(*(worker(slot) for slot in range(CONCURRENCY)))
    into.rates.append(sum(counts) / (time.perf_counter() - start))


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user and system) the live processes ``pids`` have used; 0 without /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _with_descendants(root: int) -> list[int]:
    """``root`` and every process under it (the gateway's containers run under the server)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return sorted(found)


async def compare(
    urls: dict[str, str],
    rounds: int = ROUNDS,
    servers: dict[str, Callable[[], list[int]]] | None = None,
    client: str = "raw",
) -> dict[str, Samples]:
    """``servers``: each contender's serving processes, whose CPU time per request is
    reported (a figure that load from elsewhere on the machine sways far less than rates)."""
    results = {name: Samples() for name in urls}
    clients = {
        name: await open_client(client, url, web_bench_app.BODY, CONCURRENCY)
        for name, url in urls.items()
    }

    async def measure() -> None:
        for name in urls:
            for _ in range(WARMUP_REQUESTS):
                await clients[name].get(0)
        deadline = time.perf_counter() + BUDGET_S
        for _ in range(rounds):
            for name in urls:
                pids = (servers or {}).get(name, list)()
                before = _cpu_s(pids)
                await _round(clients[name], results[name])
                results[name].cpu_s += _cpu_s(pids) - before
                results[name].requests += LATENCY_REQUESTS + THROUGHPUT_REQUESTS
            if time.perf_counter() > deadline:
                break

    try:
        await asyncio.wait_for(measure(), BUDGET_S * 2)  # a stuck connection ends the run
    finally:
        for c in clients.values():
            await c.close()
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def direct_uvicorn() -> Iterator[tuple[str, int]]:
    """The app under uvicorn as a container runs it (h11, no access log), no gateway."""
    port = _free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "web_bench_app:asgi", "--port", str(port),
        "--host", "127.0.0.1", "--http", "h11", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=Path(__file__).resolve().parent)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def render(direct: Samples, gateway: Samples) -> Table:
    table = Table(title="web endpoint: direct uvicorn vs through the gworker gateway (same run)")
    for column in ("", "direct uvicorn", "gworker gateway", "target", "met"):
        table.add_column(column, justify="right" if column else "left")
    ratio = gateway.per_s / direct.per_s
    extra = gateway.ms(50) - direct.ms(50)
    table.add_row(
        f"requests/s ({CONCURRENCY} connections)",
        f"{direct.per_s:,.0f}",
        f"{gateway.per_s:,.0f} ({ratio:.0%})",
        f"≥ {THROUGHPUT_TARGET:.0%} of direct",
        "yes" if ratio >= THROUGHPUT_TARGET else "no",
    )
    table.add_row(
        "latency p50 (sequential)",
        f"{direct.ms(50):.2f} ms",
        f"{gateway.ms(50):.2f} ms (+{extra:.2f})",
        f"≤ direct + {P50_TARGET_MS:g} ms",
        "yes" if extra <= P50_TARGET_MS else "no",
    )
    table.add_row(
        "latency p99 (sequential)", f"{direct.ms(99):.2f} ms", f"{gateway.ms(99):.2f} ms", "", ""
    )
    if direct.cpu_us and gateway.cpu_us:
        table.add_row(
            "CPU per request (serving processes)",
            f"{direct.cpu_us:.0f} µs (uvicorn)",
            f"{gateway.cpu_us:.0f} µs (server + container)",
            "",
            "",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help=f"alternating rounds of each contender (default {ROUNDS}; all within {BUDGET_S:g} s)",
    )
    parser.add_argument(
        "--client",
        choices=CLIENTS,
        default="raw",
        help="the load generator, the same for both sides (default raw: see http_load.py)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: must be at least 1")
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(f"[dim]load average before: {os.getloadavg()}; client: {args.client}[/]")
    with (
        console.status("benchmarking direct uvicorn and the gateway, alternating…"),
        direct_uvicorn() as (direct_url, direct_pid),
        local_control_plane(),
        web_bench_app.app.run(),
    ):
        gateway_url = web_bench_app.trivial.get_web_url() + "/"
        info = json.loads((Path(os.environ["GW_HOME"]) / "server.json").read_text())
        urls = {"direct": direct_url, "gateway": gateway_url}
        servers = {
            "direct": lambda: [direct_pid],
            "gateway": lambda: _with_descendants(info["pid"]),
        }
        results = asyncio.run(compare(urls, args.rounds, servers, args.client))
    console.print(render(results["direct"], results["gateway"]))
    console.print(f"[dim]load average after: {os.getloadavg()}[/]")


if __name__ == "__main__":
    main()
