"""Usage records: what each container reserved and used, second by second.

``usage_containers`` says once per container what it is (app, function, environment, the token
that started its app, its reservations and GPUs); ``usage_samples`` holds one row per container per
second it ran (``width`` 1), rolled up into one row per container per minute (``width`` 60) once
older than a day, so a year of a busy fleet stays small. Prices are applied when a report is
made, never stored: a changed price table re-prices the past.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

SCHEMA_USAGE = """
CREATE TABLE IF NOT EXISTS app_tokens (
    app_id TEXT PRIMARY KEY, token_id TEXT NOT NULL     -- the user token that created the app
);
CREATE TABLE IF NOT EXISTS usage_containers (
    container_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, app_name TEXT NOT NULL,
    environment TEXT NOT NULL, function TEXT NOT NULL, token_id TEXT,
    cpu_reserved REAL NOT NULL, memory_reserved_mib REAL NOT NULL,
    gpu_type TEXT, gpu_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_samples (
    container_id TEXT NOT NULL,
    ts REAL NOT NULL,            -- start of the interval (unix seconds)
    width INTEGER NOT NULL,      -- 1: a second's sample; 60: a minute's rollup
    seconds REAL NOT NULL,       -- how long the container ran within the interval
    cpu_used REAL NOT NULL,      -- core-seconds its processes used (from its cgroup)
    memory_peak_mib REAL NOT NULL,
    gpu_memory_mib REAL          -- GPU memory in use (NVML); NULL when not measured
);
CREATE INDEX IF NOT EXISTS usage_samples_ts ON usage_samples (ts);
"""

SECOND, MINUTE = 1, 60


@dataclass(frozen=True)
class UsageSubject:
    """What a metered container is, recorded once when it starts."""

    container_id: str
    app_id: str
    app_name: str
    environment: str
    function: str
    token_id: str | None
    cpu_reserved: float
    memory_reserved_mib: float
    gpu_type: str | None
    gpu_count: int


@dataclass(frozen=True)
class UsageSample:
    """One container's interval: ``seconds`` it ran from ``ts``, CPU it used, its peak memory."""

    container_id: str
    ts: float
    seconds: float
    cpu_used: float
    memory_peak_mib: float
    gpu_memory_mib: float | None = None


@dataclass(frozen=True)
class UsageTotal:
    """A container's usage summed over one bucket of time (``bucket`` is its start). Billed
    amounts take, interval by interval, the larger of the reservation and the use."""

    subject: UsageSubject
    bucket: float
    seconds: float
    cpu_billed: float  # core-seconds
    cpu_used: float  # core-seconds
    memory_mib_seconds: float
    memory_peak_mib: float
    gpu_memory_peak_mib: float | None = None  # None: never measured (no NVML)


class UsageStore:
    db: sqlite3.Connection

    def set_app_token(self, app_id: str, token_id: str) -> None:
        """Remember who created an app (its first creator: a redeploy keeps it)."""
        self.db.execute("INSERT OR IGNORE INTO app_tokens VALUES (?, ?)", (app_id, token_id))

    def app_token(self, app_id: str) -> str | None:
        row = self.db.execute(
            "SELECT token_id FROM app_tokens WHERE app_id = ?", (app_id,)
        ).fetchone()
        return row[0] if row else None

    def add_usage_subject(self, s: UsageSubject) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO usage_containers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.container_id,
                s.app_id,
                s.app_name,
                s.environment,
                s.function,
                s.token_id,
                s.cpu_reserved,
                s.memory_reserved_mib,
                s.gpu_type,
                s.gpu_count,
            ),
        )

    def add_usage_samples(self, samples: Sequence[UsageSample]) -> None:
        self.db.executemany(
            "INSERT INTO usage_samples VALUES (?, ?, 1, ?, ?, ?, ?)",
            [
                (s.container_id, s.ts, s.seconds, s.cpu_used, s.memory_peak_mib, s.gpu_memory_mib)
                for s in samples
            ],
        )

    def usage_totals(
        self,
        since: float,
        until: float,
        bucket_s: int,
        app_name: str | None = None,
        environment: str | None = None,
    ) -> list[UsageTotal]:
        """Each container's usage in ``[since, until)``, summed per ``bucket_s`` seconds."""
        where, args = ["s.ts >= ?", "s.ts < ?"], [since, until]
        if app_name is not None:
            where.append("c.app_name = ?")
            args.append(app_name)  # type: ignore[arg-type]
        if environment is not None:
            where.append("c.environment = ?")
            args.append(environment)  # type: ignore[arg-type]
        rows = self.db.execute(
            "SELECT c.container_id, c.app_id, c.app_name, c.environment, c.function, c.token_id,"
            " c.cpu_reserved, c.memory_reserved_mib, c.gpu_type, c.gpu_count,"
            " CAST(s.ts / ? AS INTEGER) * ?, SUM(s.seconds),"
            " SUM(MAX(c.cpu_reserved * s.seconds, s.cpu_used)), SUM(s.cpu_used),"
            " SUM(MAX(c.memory_reserved_mib, s.memory_peak_mib) * s.seconds),"
            " MAX(s.memory_peak_mib), MAX(s.gpu_memory_mib)"
            " FROM usage_samples s JOIN usage_containers c USING (container_id)"
            f" WHERE {' AND '.join(where)}"
            " GROUP BY c.container_id, CAST(s.ts / ? AS INTEGER) ORDER BY 11, 1",
            (bucket_s, bucket_s, *args, bucket_s),
        )
        return [UsageTotal(UsageSubject(*r[:10]), float(r[10]), *r[11:17]) for r in rows]

    def compact_usage(self, before: float) -> int:
        """Roll the per-second samples older than ``before`` into per-minute rows; return how
        many rows went."""
        cutoff = float(int(before) // MINUTE * MINUTE)  # whole minutes only: one rollup each
        self.db.execute(
            "INSERT INTO usage_samples"
            " SELECT container_id, CAST(ts / 60 AS INTEGER) * 60, 60, SUM(seconds),"
            " SUM(cpu_used), MAX(memory_peak_mib), MAX(gpu_memory_mib) FROM usage_samples"
            " WHERE width = 1 AND ts < ? GROUP BY container_id, CAST(ts / 60 AS INTEGER)",
            (cutoff,),
        )
        cur = self.db.execute("DELETE FROM usage_samples WHERE width = 1 AND ts < ?", (cutoff,))
        return cur.rowcount

    def usage_sample_rows(self) -> dict[int, int]:
        """How many sample rows of each width there are (for tests and ``gw server status``)."""
        return dict(
            self.db.execute("SELECT width, COUNT(*) FROM usage_samples GROUP BY width").fetchall()
        )
