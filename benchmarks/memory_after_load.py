"""Does the control plane's memory come back to its baseline after load?

``python benchmarks/memory_after_load.py`` runs a private control plane and prints its resident
memory: at rest, right after four request bodies of 100 MB (refused: the inline limit), right
after four ``.remote()`` calls with 100 MB arguments and results (through the blob store), right
after ``--spawns`` spawned calls were queued and drained (``--rounds`` times: a leak grows
with each round, a high-water mark does not), and each time again after ``--idle``
seconds with no load (the server trims freed memory every ``TRIM_EVERY_S`` while idle).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # containers import bench_app

import bench_app  # noqa: E402
from _server import local_control_plane  # noqa: E402
from soak import server_rss_mib  # noqa: E402

from gworker_client import _api  # noqa: E402

MB = 1_000_000


def big_bodies(fid: str, n: int = 4) -> None:
    """Request bodies of 100 MB, which the server reads and refuses (400: past the inline
    limit)."""
    env = os.environ
    for _ in range(n):
        req = urllib.request.Request(
            f"{env['GW_SERVER_URL']}/v1/functions/{fid}/calls",
            data=b"\x00" * (100 * MB),
            method="POST",
            headers={
                "Authorization": f"Bearer {env['GW_TOKEN_ID']}:{env['GW_TOKEN_SECRET']}",
                "Content-Type": "application/msgpack",
            },
        )
        try:
            urllib.request.urlopen(req, timeout=600).read()
        except urllib.error.HTTPError as e:
            e.read()


def big_calls(n: int = 4) -> None:
    for i in range(n):
        data = uuid.uuid4().bytes + bytes([i]) * (100 * MB)
        assert bench_app.soak_echo.remote(data) == len(data)


def spawns(total: int, threads: int = 8) -> None:
    calls: list[list] = [[] for _ in range(threads)]

    def spawn_some(k: int) -> None:
        for i in range(k, total, threads):
            calls[k].append(bench_app.echo_map.spawn(i))

    workers = [threading.Thread(target=spawn_some, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    # drained: every call's result fetched
    for batch in calls:
        for call in batch:
            call.get(timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1, help="times the spawns are repeated")
    parser.add_argument("--idle", type=float, default=45.0, help="idle seconds before measuring")
    args = parser.parse_args()
    table = Table(title="control plane resident memory (MiB)")
    for column in ("after", "right after", f"after {args.idle:.0f} s idle"):
        table.add_column(column, justify="right")
    with local_control_plane(), bench_app.app.run(), bench_app.soak_app.run():
        bench_app.soak_echo.remote(b"warm")
        bench_app.echo_map.remote(0)
        time.sleep(args.idle)
        table.add_row("start (warm, idle)", "-", f"{server_rss_mib():.0f}")
        steps = [
            ("four 100 MB bodies", lambda: big_bodies(bench_app.soak_echo.object_id)),
            ("four 100 MB .remote() calls", big_calls),
        ]
        steps += [(f"{args.spawns} spawns drained", lambda: spawns(args.spawns))] * args.rounds
        for name, step in steps:
            started = time.monotonic()
            step()
            took = time.monotonic() - started
            right_after = server_rss_mib()
            time.sleep(args.idle)
            table.add_row(f"{name} ({took:.0f} s)", f"{right_after:.0f}", f"{server_rss_mib():.0f}")
            Console().print(table.rows and f"{name}: {right_after:.0f} MiB")
        _api.reset_client()
    Console().print(table)


if __name__ == "__main__":
    main()
