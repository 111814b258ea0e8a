"""How long finished work stays in the store, and the SQL that lets it go a batch at a time.

A finished call (nothing pending, no output for ``OUTPUT_KEEP_S``) is *expired*: in one
transaction its ``calls`` row is replaced by a row in ``expired_calls`` and its result holds let
go (their blobs' grace starts, as ``payloads.py`` does for a handed-out result). Its inputs,
outputs, named objects and call-graph rows are then deleted in batches by later passes, led by
that row, so a restart in between carries on where the last pass stopped. Once nothing of the
call is left its row stays as a tombstone (a reader is told the call expired rather than that it
never existed) for another ``OUTPUT_KEEP_S``.

Every statement deletes at most ``limit`` rows through a rowid subquery, so a pass never holds
the event loop for long; the caller (``server/retention.py``) decides how many passes to run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

SCHEMA_RETENTION = """
CREATE TABLE IF NOT EXISTS expired_calls (
    call_id TEXT PRIMARY KEY, expired_at REAL NOT NULL,
    purged INTEGER NOT NULL DEFAULT 0  -- 1 once none of its rows is left
);
CREATE INDEX IF NOT EXISTS expired_calls_todo ON expired_calls (purged, expired_at);
-- the highest input id and output seq ever stored: ids are never used twice, even once every
-- input and output they were counted from is gone
CREATE TABLE IF NOT EXISTS high_water (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# the tables a call's rows are in, and the column naming the call
_CALL_TABLES = (
    ("outputs", "call_id"),
    ("inputs", "call_id"),
    ("input_tasks", "call_id"),
    ("call_objects", "call_id"),
    ("call_parents", "call_id"),
    ("payload_holds", "call_id"),
)


class RetentionStore:
    db: sqlite3.Connection
    touch_payloads: Callable[[Iterable[str], float], None]  # PayloadStore's

    # -- calls -----------------------------------------------------------------------------------

    def call_activity_page(self, after: int, limit: int) -> list[tuple[int, str, float]]:
        """Up to ``limit`` calls past the row cursor ``after``: ``(rowid, call id, last
        activity)``, the activity being its creation or its newest output, whichever is later
        (output sequence numbers grow with time, so the newest is one index step away)."""
        return self.db.execute(
            "SELECT c.rowid, c.id, MAX(c.created_at, COALESCE((SELECT o.created_at FROM outputs o"
            " WHERE o.call_id = c.id ORDER BY o.seq DESC LIMIT 1), 0))"
            " FROM calls c WHERE c.rowid > ? ORDER BY c.rowid LIMIT ?",
            (after, limit),
        ).fetchall()

    def has_pending_inputs(self, call_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM inputs WHERE call_id = ? AND state != 'done' LIMIT 1", (call_id,)
        )
        return row.fetchone() is not None

    def expire_calls(self, call_ids: Iterable[str], now: float) -> list[str]:
        """Expire these finished calls; return the digests of result blobs they held (whose
        grace starts now). Their other rows go with ``purge_expired_calls``."""
        digests: list[str] = []
        for call_id in call_ids:
            self.db.execute("DELETE FROM calls WHERE id = ?", (call_id,))
            self.db.execute(
                "INSERT OR REPLACE INTO expired_calls (call_id, expired_at) VALUES (?, ?)",
                (call_id, now),
            )
            digests += [
                r[0]
                for r in self.db.execute(
                    "DELETE FROM payload_holds WHERE call_id = ? AND role = 'result'"
                    " RETURNING digest",
                    (call_id,),
                )
            ]
        self.touch_payloads(digests, now)
        return digests

    def call_expired_at(self, call_id: str) -> float | None:
        row = self.db.execute(
            "SELECT expired_at FROM expired_calls WHERE call_id = ?", (call_id,)
        ).fetchone()
        return float(row[0]) if row else None

    def high_water(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM high_water WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _mark_high_water(self) -> None:
        for name, sql in (
            ("input_id", "SELECT COALESCE(MAX(id), 0) FROM inputs"),
            ("output_seq", "SELECT COALESCE(MAX(seq), 0) FROM outputs"),
        ):
            self.db.execute(
                f"INSERT INTO high_water (name, value) SELECT ?, ({sql}) WHERE true"
                " ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
                (name,),
            )

    def purge_expired_calls(self, limit: int) -> int:
        """Delete at most about ``limit`` rows of expired calls; return how many went."""
        done = 0
        todo = self.db.execute(
            "SELECT call_id FROM expired_calls WHERE purged = 0 ORDER BY expired_at LIMIT 16"
        ).fetchall()
        if todo:
            self._mark_high_water()
        for (call_id,) in todo:
            if self.db.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone():
                # the id was made again (a client's request re-sent after the call expired):
                # the rows under it are the new call's, never deleted as the old one's
                self.db.execute("DELETE FROM expired_calls WHERE call_id = ?", (call_id,))
                continue
            left = False
            for table, column in _CALL_TABLES:
                budget = limit - done
                if budget <= 0:
                    return done
                n = self.db.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"
                    f" WHERE {column} = ? LIMIT ?)",
                    (call_id, budget),
                ).rowcount
                done += n
                left = left or n == budget
            if left:
                return done
            self.db.execute("UPDATE expired_calls SET purged = 1 WHERE call_id = ?", (call_id,))
        return done

    def drop_tombstones(self, before: float, limit: int) -> int:
        return self.db.execute(
            "DELETE FROM expired_calls WHERE rowid IN (SELECT rowid FROM expired_calls"
            " WHERE purged = 1 AND expired_at < ? LIMIT ?)",
            (before, limit),
        ).rowcount

    # -- logs and probes -------------------------------------------------------------------------

    def drop_old_rows(self, table: str, before: float, limit: int) -> int:
        """Delete ``logs`` or ``probes`` rows older than ``before`` among the ``limit`` oldest
        (rows are appended in time order, so the old ones are first: no index on time needed)."""
        assert table in ("logs", "probes")
        return self.db.execute(
            f"DELETE FROM {table} WHERE seq IN (SELECT seq FROM (SELECT seq, ts FROM {table}"
            " ORDER BY seq LIMIT ?) WHERE ts < ?)",
            (limit, before),
        ).rowcount

    def app_page(self, after: int, limit: int) -> list[tuple[int, str]]:
        return self.db.execute(
            "SELECT rowid, id FROM apps WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit)
        ).fetchall()

    def cap_app_rows(self, table: str, app_id: str, keep: int, limit: int) -> int:
        """Delete at most ``limit`` of an app's oldest rows past its newest ``keep``."""
        assert table in ("logs", "probes")
        span = self.db.execute(
            f"SELECT MIN(seq), MAX(seq) FROM {table} WHERE app_id = ?", (app_id,)
        ).fetchone()
        if span[0] is None or span[1] - span[0] < keep:  # seq is global: span >= count
            return 0
        edge = self.db.execute(
            f"SELECT seq FROM {table} WHERE app_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (app_id, keep),
        ).fetchone()
        if edge is None:
            return 0
        return self.db.execute(
            f"DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table}"
            " WHERE app_id = ? AND seq <= ? ORDER BY seq LIMIT ?)",
            (app_id, edge[0], limit),
        ).rowcount

    # -- what ended ------------------------------------------------------------------------------

    def drop_ended(self, before: float, limit: int) -> int:
        """Rows of containers stopped and sandboxes ended before ``before``, and schedule runs
        fired before it but a function's latest (which the next tick is counted from)."""
        n = self.db.execute(
            "DELETE FROM containers WHERE rowid IN (SELECT rowid FROM containers"
            " WHERE state = 'stopped' AND stopped_at < ? LIMIT ?)",
            (before, limit),
        ).rowcount
        n += self.db.execute(
            "DELETE FROM sandboxes WHERE rowid IN (SELECT rowid FROM sandboxes"
            " WHERE state != 'running' AND finished_at < ? LIMIT ?)",
            (before, limit),
        ).rowcount
        n += self.db.execute(
            "DELETE FROM schedule_runs WHERE rowid IN (SELECT s.rowid FROM schedule_runs s"
            " WHERE s.fired_at < ? AND s.tick < (SELECT MAX(t.tick) FROM schedule_runs t"
            " WHERE t.app_id = s.app_id AND t.tag = s.tag) LIMIT ?)",
            (before, limit),
        ).rowcount
        return n
