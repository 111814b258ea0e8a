"""Which input made each call, and which container ran an input of a call graph.

Two tables of their own beside the call tables (nothing there changes): ``call_parents`` links
a call made in a container to the input (or web request) the container was running, and
``input_tasks`` keeps the container and status of each input of such a call (and of each input
that made one), as Modal's graph names each input's task: an awaited call (``.remote()``) is
never stored, so its input's row is the only trace the graph has of it. Calls made from outside
a container have no row and cost nothing.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

SCHEMA_CALL_GRAPH = """
CREATE TABLE IF NOT EXISTS call_parents (
    call_id TEXT PRIMARY KEY, parent_call_id TEXT NOT NULL,
    parent_input_id INTEGER NOT NULL,  -- 0: a web request, never stored as an input
    task_id TEXT NOT NULL,             -- the container that made the call
    function_id TEXT NOT NULL,         -- that container's function
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS call_parents_parent ON call_parents (parent_call_id);
CREATE TABLE IF NOT EXISTS input_tasks (
    input_id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, task_id TEXT NOT NULL,
    status TEXT NOT NULL  -- its last output's (an OutputStatus value), or 'pending'
);
CREATE INDEX IF NOT EXISTS input_tasks_call ON input_tasks (call_id);
"""

# the most inputs one call contributes to a graph (a large map's tail is left out, as Modal's
# graph leaves out inputs past its retention)
MAX_GRAPH_INPUTS = 1000


@dataclass(frozen=True)
class CallParent:
    call_id: str
    parent_call_id: str
    parent_input_id: int
    task_id: str
    function_id: str


class CallGraphStore:
    db: sqlite3.Connection

    def add_call_parent(self, parent: CallParent) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO call_parents (call_id, parent_call_id, parent_input_id,"
            " task_id, function_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                parent.call_id,
                parent.parent_call_id,
                parent.parent_input_id,
                parent.task_id,
                parent.function_id,
                time.time(),
            ),
        )

    def call_parent(self, call_id: str) -> CallParent | None:
        row = self.db.execute(
            "SELECT call_id, parent_call_id, parent_input_id, task_id, function_id"
            " FROM call_parents WHERE call_id = ?",
            (call_id,),
        ).fetchone()
        return CallParent(*row) if row else None

    def child_calls(self, parent_call_id: str) -> list[CallParent]:
        rows = self.db.execute(
            "SELECT call_id, parent_call_id, parent_input_id, task_id, function_id"
            " FROM call_parents WHERE parent_call_id = ? ORDER BY created_at",
            (parent_call_id,),
        )
        return [CallParent(*r) for r in rows]

    def add_input_task(self, input_id: int, call_id: str, task_id: str, status: str) -> None:
        """An input a child call names as its parent, while it runs (kept if already there)."""
        self.db.execute(
            "INSERT OR IGNORE INTO input_tasks (input_id, call_id, task_id, status)"
            " VALUES (?, ?, ?, ?)",
            (input_id, call_id, task_id, status),
        )

    def finish_input_task(self, input_id: int, call_id: str, task_id: str, status: str) -> None:
        """Where an input ran and how it ended, kept only for a call in a call graph: one with
        a parent, or whose input a child call named (one statement: this runs per output)."""
        self.db.execute(
            "INSERT OR REPLACE INTO input_tasks (input_id, call_id, task_id, status)"
            " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM call_parents WHERE call_id = ?)"
            " OR EXISTS (SELECT 1 FROM input_tasks WHERE input_id = ?)",
            (input_id, call_id, task_id, status, call_id, input_id),
        )

    def input_tasks(self, call_id: str) -> dict[int, tuple[str, str]]:
        """Input id -> (task id, status) of a call's recorded inputs."""
        rows = self.db.execute(
            "SELECT input_id, task_id, status FROM input_tasks WHERE call_id = ?", (call_id,)
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def stored_inputs(self, call_id: str) -> list[tuple[int, str | None]]:
        """``(input_id, output status or None)`` of a stored call's first inputs."""
        return self.db.execute(
            "SELECT i.id, o.status FROM inputs i LEFT JOIN outputs o ON o.input_id = i.id"
            " WHERE i.call_id = ? ORDER BY i.idx LIMIT ?",
            (call_id, MAX_GRAPH_INPUTS),
        ).fetchall()
