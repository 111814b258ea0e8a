"""gworker vs ProcessPoolExecutor vs Ray, side by side: ``make bench`` (see README.md)."""

from __future__ import annotations

import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# Containers and Ray workers import these modules, so they live in this directory, not in run.py.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines  # noqa: E402
import bench_app  # noqa: E402
from _server import local_control_plane  # noqa: E402
from measure import RoundTrip, Throughput, round_trips, throughput  # noqa: E402

WARMUP_CALLS = 200
ROUND_TRIP_CALLS = 2000
ROUND_TRIP_BUDGET_S = 20.0
# The large-payload row: one argument of this size, returned as the result.
LARGE_BYTES = 1024 * 1024
LARGE_WARMUP_CALLS = 20
LARGE_CALLS = 300
LARGE_BUDGET_S = 15.0
LARGE_ARG = os.urandom(LARGE_BYTES)
P99_TARGET_RATIO = 3.0
MAP_INPUTS = 10_000
MAP_RUNS = 3
MAP_BUDGET_S = 20.0
MAP_WORKERS = bench_app.MAP_MAX_WORKERS
# multiprocessing.Pool's own default: four chunks per worker.
POOL_CHUNKSIZE = MAP_INPUTS // (4 * MAP_WORKERS)
COLD_REPS = 10
COLD_BUDGET_S = 30.0
# A pause between cold starts, so the previous run's container has exited.
COLD_SETTLE_S = 0.3
COLD_TARGET_S = 0.3
MAP_TARGET_RATIO = 5.0


@dataclass(frozen=True)
class ColdStart:
    samples: tuple[float, ...]

    @property
    def p50_s(self) -> float:
        return statistics.median(self.samples)


@dataclass(frozen=True)
class Column:
    """One contender's results; ``missing`` says why there are none."""

    round_trip: RoundTrip | None = None
    large: RoundTrip | None = None
    map: Throughput | None = None
    map_setup: str = ""
    cold: ColdStart | None = None
    missing: str | None = None


# -- the contenders --------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    call: Callable[[Any], Any]  # one warm call of echo, returning its argument
    run_map: Callable[[range], list[Any]]
    map_setup: Callable[[], str]  # how the map ran, asked after it ran


@contextmanager
def gworker(settings: dict[str, str] | None = None) -> Iterator[Contender]:
    with local_control_plane(settings), bench_app.app.run():
        yield Contender(
            bench_app.echo.remote,
            lambda xs: list(bench_app.echo_map.map(xs)),
            lambda: (
                f"max_workers={MAP_WORKERS},"
                f" {bench_app.echo_map.get_current_stats().num_total_runners} containers"
            ),
        )


@contextmanager
def process_pool() -> Iterator[Contender]:
    with ProcessPoolExecutor(1) as single, ProcessPoolExecutor(MAP_WORKERS) as pool:
        yield Contender(
            lambda x: single.submit(baselines.echo, x).result(),
            lambda xs: list(pool.map(baselines.echo, xs, chunksize=POOL_CHUNKSIZE)),
            lambda: f"{MAP_WORKERS} workers, chunksize={POOL_CHUNKSIZE}",
        )


@contextmanager
def ray_actor() -> Iterator[Contender | None]:
    # a token of the run's own, which the Ray-backend control plane joins this Ray with (set
    # before Ray is imported: it reads its auth mode then)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    try:
        import ray
    except ImportError:
        yield None
        return
    # the Ray column's CPUs, plus room for the Ray-backend column's containers (0.125 each)
    ray.init(num_cpus=MAP_WORKERS + 1, include_dashboard=False, log_to_driver=False)
    try:
        actor = ray.remote(baselines.Echo).remote()
        task = ray.remote(baselines.echo)
        yield Contender(
            lambda x: ray.get(actor.f.remote(x)),
            lambda xs: ray.get([task.remote(i) for i in xs]),
            lambda: f"num_cpus={MAP_WORKERS}, 1 task/input",
        )
    finally:
        ray.shutdown()


def gworker_cold_starts(settings: dict[str, str] | None = None) -> ColdStart:
    """First-result time of a function with no container, each time in a new ``app.run()``."""
    samples: list[float] = []
    deadline = time.perf_counter() + COLD_BUDGET_S
    with local_control_plane(settings):
        for i in range(COLD_REPS):
            time.sleep(COLD_SETTLE_S)
            with bench_app.cold_app.run():
                fn = bench_app.echo_cold
                if fn.get_current_stats().num_total_runners != 0:
                    raise AssertionError("a cold-start repetition found a container running")
                start = time.perf_counter()
                if fn.remote(i) != i:
                    raise AssertionError(f"echo_cold({i}) returned a wrong result")
                samples.append(time.perf_counter() - start)
            if time.perf_counter() > deadline:
                break
    return ColdStart(tuple(samples))


def bench(status: Callable[[str], Any]) -> dict[str, Column]:
    """Every contender up at once; the warm-call rows interleaved between them, the maps one
    after another (the others idle meanwhile). Then gworker on the Ray backend, on the same Ray
    instance, its warm calls interleaved with the Ray actor's again."""
    with ExitStack() as outer:
        ray_contender = outer.enter_context(ray_actor())
        with ExitStack() as stack:
            status("starting gworker, ProcessPoolExecutor and Ray…")
            contenders = {
                "gworker": stack.enter_context(gworker()),
                "ProcessPoolExecutor": stack.enter_context(process_pool()),
                "Ray": ray_contender,
            }
            cols = measure(contenders, status)
        status("gworker cold starts…")
        cols["gworker"] = replace(cols["gworker"], cold=gworker_cold_starts())
        cols[ON_RAY] = Column(missing="Ray not installed")
        if ray_contender is not None:
            cols[ON_RAY] = on_ray(ray_contender, status)
    return cols


ON_RAY = "gworker on Ray"


def measure(
    contenders: dict[str, Contender | None], status: Callable[[str], Any]
) -> dict[str, Column]:
    up = {name: c for name, c in contenders.items() if c is not None}
    calls = {name: c.call for name, c in up.items()}
    status(f"warm calls: {', '.join(up)}…")
    small = round_trips(calls, WARMUP_CALLS, ROUND_TRIP_CALLS, ROUND_TRIP_BUDGET_S)
    status(f"warm calls with {LARGE_BYTES:,} bytes in and out…")
    large = round_trips(calls, LARGE_WARMUP_CALLS, LARGE_CALLS, LARGE_BUDGET_S, LARGE_ARG)
    maps: dict[str, tuple[Throughput, str]] = {}
    for name, c in up.items():
        status(f"map on {name}…")
        maps[name] = (throughput(c.run_map, MAP_INPUTS, MAP_RUNS, MAP_BUDGET_S), c.map_setup())
    return {
        name: Column(small[name], large[name], *maps[name])
        if name in up
        else Column(missing="not installed")
        for name in contenders
    }


def on_ray(ray_contender: Contender, status: Callable[[str], Any]) -> Column:
    """gworker with ``--backend ray`` on the Ray instance the Ray column runs on: each container
    a Ray actor; calls still go client -> control plane -> container."""
    import ray

    settings = {"GW_BACKEND": "ray", "GW_RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    status("starting gworker on the Ray backend…")
    with gworker(settings) as c:
        cols = measure({ON_RAY: c, "Ray (again)": ray_contender}, status)
    again = cols["Ray (again)"].round_trip
    setup = cols[ON_RAY].map_setup
    if again is not None:  # the phase's own Ray number, to read the column against
        setup += f"; Ray actor p50 in this phase {again.p50_ms:.3f} ms"
    status("gworker cold starts on the Ray backend…")
    return replace(cols[ON_RAY], map_setup=setup, cold=gworker_cold_starts(settings))


# -- the table -------------------------------------------------------------------------------


def ms(rt: RoundTrip | None, pick: Callable[[RoundTrip], float]) -> str:
    return "—" if rt is None else f"{pick(rt):.3f} ms"


def rate(tp: Throughput | None, setup: str) -> str:
    return "—" if tp is None else f"{tp.per_s:,.0f} /s\n[dim]{setup}[/]"


def seconds(cs: ColdStart | None) -> str:
    return "—" if cs is None else f"{cs.p50_s:.3f} s"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("[green]met[/]" if ok else "[red]missed[/]")


def latency_row(
    label: str,
    cols: dict[str, Column],
    which: Callable[[Column], RoundTrip | None],
    pick: Callable[[RoundTrip], float],
) -> list[str]:
    """A row whose target is Ray's number in the same run."""
    gw, ray = which(cols["gworker"]), which(cols["Ray"])
    ok = None if gw is None or ray is None else pick(gw) <= pick(ray)
    target = "≤ Ray" + ("" if ray is None else f" ({pick(ray):.3f} ms)")
    return [label, *(ms(which(c), pick) for c in cols.values()), target, verdict(ok)]


def tail_row(
    label: str, cols: dict[str, Column], which: Callable[[Column], RoundTrip | None]
) -> list[str]:
    """p99, whose target is a multiple of gworker's own p50: a tail, not a second median."""
    gw = which(cols["gworker"])
    ok = None if gw is None else gw.p99_ms <= P99_TARGET_RATIO * gw.p50_ms
    target = f"≤ {P99_TARGET_RATIO:g}× its p50"
    if gw is not None:
        target += f" ({P99_TARGET_RATIO * gw.p50_ms:.3f} ms)"
    cells = [ms(which(c), lambda rt: rt.p99_ms) for c in cols.values()]
    return [label, *cells, target, verdict(ok)]


def map_row(cols: dict[str, Column]) -> list[str]:
    gw, ray = cols["gworker"].map, cols["Ray"].map
    ok = None if gw is None or ray is None else gw.per_s >= MAP_TARGET_RATIO * ray.per_s
    target = f"≥ {MAP_TARGET_RATIO:g}× Ray"
    if ray is not None:
        target += f" ({MAP_TARGET_RATIO * ray.per_s:,.0f} /s)"
    label = f"map of {MAP_INPUTS:,} inputs"
    return [label, *(rate(c.map, c.map_setup) for c in cols.values()), target, verdict(ok)]


def cold_row(cols: dict[str, Column]) -> list[str]:
    gw = cols["gworker"].cold
    ok = None if gw is None else gw.p50_s < COLD_TARGET_S
    cells = [seconds(c.cold) for c in cols.values()]
    return ["cold start p50", *cells, f"< {COLD_TARGET_S:g} s", verdict(ok)]


def render(cols: dict[str, Column]) -> Table:
    table = Table(title="gworker (local and Ray backends) vs ProcessPoolExecutor vs Ray (same run)")
    table.add_column("measurement")
    for name, col in cols.items():
        header = name if col.missing is None else f"{name}\n({col.missing})"
        table.add_column(header, justify="right")
    table.add_column("gworker target")
    table.add_column("verdict")
    small, large = (lambda c: c.round_trip), (lambda c: c.large)
    mib = f"{LARGE_BYTES / 2**20:g} MiB"
    table.add_row(*latency_row("warm round trip p50", cols, small, lambda rt: rt.p50_ms))
    table.add_row(*tail_row("warm round trip p99", cols, small))
    table.add_row(
        *latency_row(f"warm call, {mib} in and out, p50", cols, large, lambda rt: rt.p50_ms)
    )
    table.add_row(*tail_row(f"warm call, {mib} in and out, p99", cols, large))
    table.add_row(*map_row(cols))
    table.add_row(*cold_row(cols))
    return table


def notes(cols: dict[str, Column]) -> list[str]:
    """How each row was measured, with the counts each contender actually completed."""
    calls = ", ".join(f"{n} {c.round_trip.calls}" for n, c in cols.items() if c.round_trip)
    large = ", ".join(f"{n} {c.large.calls}" for n, c in cols.items() if c.large)
    runs = ", ".join(f"{n} {c.map.runs}" for n, c in cols.items() if c.map)
    lines = [
        f"warm round trip: {WARMUP_CALLS} warm-up calls, then timed sequential calls of a"
        f" trivial function ({calls}), interleaved in rounds between the contenders so that"
        " load from elsewhere weighs on all alike; gworker f.remote(i), ProcessPoolExecutor(1)"
        " submit(f, i).result(), Ray actor ray.get(a.f.remote(i)).",
        f"{LARGE_BYTES / 2**20:g} MiB in and out: the same calls with one random {LARGE_BYTES:,}"
        f"-byte argument that the function returns ({LARGE_WARMUP_CALLS} warm-up calls, then"
        f" {large}); Ray passes it through its object store.",
        f"map: inputs/s, median of timed runs ({runs}) after one warm-up run; gworker"
        f" f.map(range({MAP_INPUTS})) with the function's max_workers={MAP_WORKERS} (containers"
        f" counted after the map), ProcessPoolExecutor({MAP_WORKERS}).map(f, ...,"
        f" chunksize={POOL_CHUNKSIZE}) (multiprocessing.Pool's default: 4 chunks per worker),"
        " Ray ray.get([f.remote(i) for i in ...]).",
        f"{ON_RAY}: gworker with GW_BACKEND=ray on the Ray instance of the Ray column (every"
        " container a Ray actor of 0.125 CPU), measured after the others with its warm calls"
        " interleaved with the Ray actor's again; targets are judged on the local backend.",
    ]
    for name in ("gworker", ON_RAY):
        cold = cols[name].cold
        if cold is not None:
            low, high = min(cold.samples), max(cold.samples)
            lines.append(
                f"cold start ({name}): {len(cold.samples)} runs, each a new app.run() (new"
                " function ids, no container running), first .remote() to its result; range"
                f" {low:.3f}–{high:.3f} s."
            )
    return lines


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}"


def main() -> None:
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(f"[dim]before: {machine()}[/]")
    started = time.perf_counter()
    with console.status("benchmarking…") as status:
        cols = bench(lambda text: status.update(f"benchmarking: {text}"))
    console.print(render(cols))
    for line in notes(cols):
        console.print(f"• {line}", style="dim", markup=False)
    console.print(
        f"[dim]after: {machine()}; total {time.perf_counter() - started:.0f} s. Numbers depend"
        " on the machine and on whatever else runs on it.[/]"
    )


if __name__ == "__main__":
    main()
