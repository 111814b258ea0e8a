"""Which schedule ticks have fired: one row per (app, function, tick), so no tick runs twice."""

from __future__ import annotations

import sqlite3

SCHEMA_SCHEDULES = """
CREATE TABLE IF NOT EXISTS schedule_runs (
    app_id TEXT NOT NULL, tag TEXT NOT NULL,
    tick REAL NOT NULL,          -- the scheduled time this run stands for
    call_id TEXT NOT NULL, fired_at REAL NOT NULL,
    missed INTEGER NOT NULL,     -- earlier ticks skipped because the server was down
    PRIMARY KEY (app_id, tag, tick)
);
"""


class ScheduleStore:
    db: sqlite3.Connection

    def last_schedule_run(self, app_id: str, tag: str) -> tuple[float, float] | None:
        """``(tick, fired_at)`` of the function's latest run, if any."""
        row = self.db.execute(
            "SELECT tick, fired_at FROM schedule_runs WHERE app_id = ? AND tag = ?"
            " ORDER BY tick DESC LIMIT 1",
            (app_id, tag),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def add_schedule_run(
        self, app_id: str, tag: str, tick: float, call_id: str, fired_at: float, missed: int
    ) -> bool:
        """Record a tick's run; False when that tick already ran."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO schedule_runs VALUES (?, ?, ?, ?, ?, ?)",
            (app_id, tag, tick, call_id, fired_at, missed),
        )
        return cur.rowcount == 1
