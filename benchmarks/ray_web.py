"""What the web relay of a container on a Ray node costs: the trivial endpoint of
``gateway.py`` served directly by uvicorn, through the gateway to a container on this machine
(the local backend), and through the gateway and the container's relay (the Ray backend, on a
Ray instance started here: one node, the relay on its address).

    .venv/bin/python benchmarks/ray_web.py

Two phases, one control plane each, and direct uvicorn measured again in each, in alternating
rounds (``gateway.compare``), so each phase's gateway reads against its own direct numbers. No
target: the relay is one more HTTP hop in Python, and the table says what it adds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

# a token of the run's own, which the Ray-backend control plane joins this Ray with (set before
# Ray is imported: it reads its auth mode then)
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))

import web_bench_app  # noqa: E402
from _server import local_control_plane  # noqa: E402
from gateway import CONCURRENCY, Samples, compare, direct_uvicorn  # noqa: E402


def phase(settings: dict[str, str] | None, direct_url: str) -> dict[str, Samples]:
    with local_control_plane(settings), web_bench_app.app.run():
        url = web_bench_app.trivial.get_web_url() + "/"
        return asyncio.run(compare({"direct": direct_url, "gateway": url}))


def render(local: dict[str, Samples], ray: dict[str, Samples]) -> Table:
    table = Table(title="web endpoint: the gateway to this machine vs to a Ray node's relay")
    columns = ("", "direct", "gateway (local)", "direct again", "gateway → relay (Ray)")
    for column in columns:
        table.add_column(column, justify="right" if column else "left")
    ordered = [local["direct"], local["gateway"], ray["direct"], ray["gateway"]]
    table.add_row(f"requests/s ({CONCURRENCY} connections)", *(f"{s.per_s:,.0f}" for s in ordered))
    table.add_row("latency p50 (sequential)", *(f"{s.ms(50):.2f} ms" for s in ordered))
    table.add_row("latency p99 (sequential)", *(f"{s.ms(99):.2f} ms" for s in ordered))
    return table


def main() -> None:
    import ray

    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(f"[dim]load average before: {os.getloadavg()}[/]")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        settings = {"GW_BACKEND": "ray", "GW_RAY_ADDRESS": ray.get_runtime_context().gcs_address}
        with direct_uvicorn() as (direct_url, _):
            with console.status("the gateway on the local backend, alternating with direct…"):
                local = phase(None, direct_url)
            with console.status("the gateway on the Ray backend, alternating with direct…"):
                on_ray = phase(settings, direct_url)
    finally:
        ray.shutdown()
    console.print(render(local, on_ray))
    console.print(f"[dim]load average after: {os.getloadavg()}[/]")


if __name__ == "__main__":
    main()
