"""Does ``state.db`` stay bounded under a loop of maps?

``python benchmarks/retention.py`` runs a private control plane with a short keep time
(``GW_OUTPUT_KEEP_S``, ``--keep``) and a sweep every second, maps ``--total`` small inputs in
maps of ``--chunk``, and prints the rows of the call tables and the database file's size and
pages (used and free) before the loop, right after it, and once the keep time and the sweep
passed. SQLite reuses the pages the sweep freed; nothing shrinks the file (no VACUUM, no
incremental vacuum), so its size is the high-water mark of what was kept at once.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # containers import bench_app

import bench_app  # noqa: E402
from _server import local_control_plane  # noqa: E402

TABLES = ("calls", "inputs", "outputs", "expired_calls")


def snapshot(home: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True)
    try:
        row = {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}
        row["pages"] = int(db.execute("PRAGMA page_count").fetchone()[0])
        row["free pages"] = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        db.close()
    row["db MiB"] = (home / "state.db").stat().st_size // (1 << 20)
    wal = home / "state.db-wal"
    row["wal MiB"] = wal.stat().st_size // (1 << 20) if wal.exists() else 0
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--keep", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2, help="loops, each drained before the next")
    args = parser.parse_args()
    settings = {"GW_OUTPUT_KEEP_S": str(args.keep), "GW_RETENTION_SWEEP_S": "1"}
    rows: list[tuple[str, dict[str, int]]] = []
    with local_control_plane(settings):
        home = Path(os.environ["GW_HOME"])
        with bench_app.app.run():
            assert bench_app.echo_map.remote(1) == 1
            rows.append(("before", snapshot(home)))
            took = []
            for r in range(1, args.rounds + 1):
                start, peak = time.monotonic(), snapshot(home)
                for first in range(0, args.total, args.chunk):
                    n = min(args.chunk, args.total - first)
                    assert sum(1 for _ in bench_app.echo_map.map(range(first, first + n))) == n
                    now = snapshot(home)
                    peak = {k: max(peak[k], now[k]) for k in peak}
                took.append(time.monotonic() - start)
                rows.append((f"{r}: after the loop", snapshot(home)))
                rows.append((f"{r}: peak in the loop", peak))
                # a keep time longer than a benchmark: nothing to wait for (the baseline)
                deadline = time.monotonic() + (args.keep + 120 if args.keep < 600 else 0)
                while snapshot(home)["inputs"] and time.monotonic() < deadline:
                    time.sleep(1)
                rows.append((f"{r}: keep + sweep later", snapshot(home)))
    table = Table(title=f"{args.total} inputs in maps of {args.chunk}, keep {args.keep:g}s")
    table.add_column("when")
    for key in rows[0][1]:
        table.add_column(key, justify="right")
    for when, row in rows:
        table.add_row(when, *(str(v) for v in row.values()))
    Console(width=200).print(table)
    rates = ", ".join(f"{t:.1f}s ({args.total / t:.0f} inputs/s)" for t in took)
    print(f"loops: {rates}; load avg {os.getloadavg()}")


if __name__ == "__main__":
    main()
