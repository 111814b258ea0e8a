"""Calls, their inputs and their outputs in SQLite: what a restart needs to finish every call.

Ids and output sequence numbers are assigned here (this connection is the only writer), so the
call book can hand outputs on without reading them back.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any


class CallStore:
    db: sqlite3.Connection
    _next_input_id: int
    _next_output_seq: int

    def _one(self, sql: str, *args: Any) -> Any:
        return self.db.execute(sql, args).fetchone()

    def add_call(self, call_id: str, fid: str, total: int | None) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO calls (id, function_id, total, created_at) VALUES (?, ?, ?, ?)",
            (call_id, fid, total, time.time()),
        )
        return cur.rowcount == 1

    def call(self, call_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT id, function_id, total, cancelled FROM calls WHERE id = ?", call_id)
        if not row:
            return None
        return {"id": row[0], "function_id": row[1], "total": row[2], "cancelled": bool(row[3])}

    def add_call_objects(self, call_id: str, object_ids: Sequence[str]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO call_objects (call_id, object_id) VALUES (?, ?)",
            [(call_id, oid) for oid in object_ids],
        )

    def call_objects(self, call_id: str) -> set[str]:
        rows = self.db.execute("SELECT object_id FROM call_objects WHERE call_id = ?", (call_id,))
        return {r[0] for r in rows}

    def set_call_total(self, call_id: str, total: int) -> None:
        self.db.execute("UPDATE calls SET total = ? WHERE id = ?", (total, call_id))

    def cancel_call(self, call_id: str) -> None:
        self.db.execute("UPDATE calls SET cancelled = 1 WHERE id = ?", (call_id,))

    def add_inputs(
        self, call_id: str, fid: str, items: Sequence[tuple[int, bytes]], fresh_call: bool
    ) -> list[tuple[int, int]]:
        """Insert new inputs; return ``(input_id, idx)`` of those not stored before.

        A client that retries a chunk after a lost response sends the same indexes again;
        they are stored once. Ids are assigned here (this connection is the only writer), so
        no read-back is needed.
        """
        if not items:
            return []
        seen: set[int] = set()
        if not fresh_call:
            low, high = min(i for i, _ in items), max(i for i, _ in items)
            seen = {
                r[0]
                for r in self.db.execute(
                    "SELECT idx FROM inputs WHERE call_id = ? AND idx BETWEEN ? AND ?",
                    (call_id, low, high),
                )
            }
        fresh = [(idx, args) for idx, args in items if idx not in seen]
        first = self.reserve_input_ids(len(fresh))
        rows = [(first + n, idx, args) for n, (idx, args) in enumerate(fresh)]
        self.add_inputs_with_ids(call_id, fid, rows)
        return [(iid, idx) for iid, idx, _ in rows]

    def reserve_input_ids(self, n: int) -> int:
        """The first of ``n`` new input ids, for inputs stored now or kept in memory."""
        first = self._next_input_id
        self._next_input_id += n
        return first

    def add_inputs_with_ids(
        self, call_id: str, fid: str, rows: Sequence[tuple[int, int, bytes]]
    ) -> None:
        """Insert pending inputs ``(input_id, idx, args)`` whose ids were reserved."""
        self.db.executemany(
            "INSERT INTO inputs (id, call_id, idx, function_id, args, state)"
            " VALUES (?, ?, ?, ?, ?, 'pending')",
            [(iid, call_id, idx, fid, args) for iid, idx, args in rows],
        )

    def set_attempts(self, input_id: int, attempts: int, not_before: float) -> None:
        self.db.execute(
            "UPDATE inputs SET attempts = ?, not_before = ? WHERE id = ?",
            (attempts, not_before, input_id),
        )

    def pending_inputs(self) -> list[tuple[int, str, int, str, bytes, int, float]]:
        return self.db.execute(
            "SELECT id, call_id, idx, function_id, args, attempts, not_before FROM inputs"
            " WHERE state = 'pending' ORDER BY id"
        ).fetchall()

    def add_outputs(
        self, rows: Sequence[tuple[int, str, int, str, bytes]]
    ) -> list[tuple[int, str, int, str, bytes]]:
        """Store outputs ``(input_id, call_id, idx, status, data)`` and retire their inputs.

        Return ``(seq, call_id, idx, status, data)`` of those stored: an input that has an
        output already keeps its first. Sequence numbers are assigned here (this connection is
        the only writer), so callers can hand outputs on without reading them back.
        """
        now = time.time()
        stored = []
        insert = (
            "INSERT OR IGNORE INTO outputs (seq, input_id, call_id, idx, status, data, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        for input_id, call_id, idx, status, data in rows:
            seq = self._next_output_seq
            if self.db.execute(insert, (seq, input_id, call_id, idx, status, data, now)).rowcount:
                self._next_output_seq += 1
                stored.append((seq, call_id, idx, status, data))
        # The arguments are not needed once an output exists.
        self.db.executemany(
            "UPDATE inputs SET state = 'done', args = x'' WHERE id = ?", [(r[0],) for r in rows]
        )
        return stored

    def take_output_seq(self) -> int:
        """A sequence number for an output kept only in memory, ordered with stored ones."""
        seq = self._next_output_seq
        self._next_output_seq += 1
        return seq

    def max_output_seq(self, call_id: str) -> int:
        row = self._one("SELECT MAX(seq) FROM outputs WHERE call_id = ?", call_id)
        return int(row[0] or 0)

    def outputs_after(
        self, call_id: str, after: int, limit: int = 1000
    ) -> list[tuple[int, int, str, bytes]]:
        return self.db.execute(
            "SELECT seq, idx, status, data FROM outputs WHERE call_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (call_id, after, limit),
        ).fetchall()

    def output_count(self, call_id: str) -> int:
        return int(self._one("SELECT COUNT(*) FROM outputs WHERE call_id = ?", call_id)[0])

    def pending_input_ids(self, call_id: str) -> list[tuple[int, int]]:
        return self.db.execute(
            "SELECT id, idx FROM inputs WHERE call_id = ? AND state = 'pending'", (call_id,)
        ).fetchall()
