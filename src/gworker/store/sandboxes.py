"""SQL for sandboxes: a mixin over ``Store``'s connection (``self.db``).

A sandbox lives no longer than the control plane that started it: its processes are children of
the server. The table keeps what callers may still ask after one ended (its exit code and why),
and at start-up ``end_orphaned_sandboxes`` closes the rows a previous server left running.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

SCHEMA_SANDBOXES = """
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL,
    name TEXT,                   -- unique among the running sandboxes of its app
    state TEXT NOT NULL,         -- running | finished | terminated | timeout | failed
    returncode INTEGER, info TEXT NOT NULL DEFAULT '',
    image TEXT NOT NULL, created_at REAL NOT NULL, finished_at REAL
);
CREATE INDEX IF NOT EXISTS sandboxes_app ON sandboxes (app_id, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS sandboxes_name ON sandboxes (app_id, name)
    WHERE name IS NOT NULL AND state = 'running';
"""
_COLUMNS = "id, app_id, name, state, returncode, info, created_at, image"


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = ("sandbox_id", "app_id", "name", "state", "returncode", "info", "created_at", "image")
    return dict(zip(keys, row, strict=True))


class SandboxStore:
    db: sqlite3.Connection

    def add_sandbox(self, sid: str, app_id: str, name: str | None, image: str) -> None:
        self.db.execute(
            "INSERT INTO sandboxes (id, app_id, name, state, image, created_at)"
            " VALUES (?, ?, ?, 'running', ?, ?)",
            (sid, app_id, name, image, time.time()),
        )

    def end_sandbox(self, sid: str, state: str, returncode: int, info: str) -> None:
        self.db.execute(
            "UPDATE sandboxes SET state = ?, returncode = ?, info = ?, finished_at = ?"
            " WHERE id = ? AND state = 'running'",
            (state, returncode, info, time.time(), sid),
        )

    def sandbox(self, sid: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM sandboxes WHERE id = ?", (sid,)).fetchone()
        return _row(row) if row else None

    def sandbox_by_name(self, app_id: str, name: str) -> str | None:
        row = self.db.execute(
            "SELECT id FROM sandboxes WHERE app_id = ? AND name = ? AND state = 'running'",
            (app_id, name),
        ).fetchone()
        return row[0] if row else None

    def sandboxes(self, app_id: str | None, running_only: bool) -> list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM sandboxes WHERE 1 = 1"
        args: list[Any] = []
        if app_id:
            sql += " AND app_id = ?"
            args.append(app_id)
        if running_only:
            sql += " AND state = 'running'"
        rows = self.db.execute(sql + " ORDER BY created_at", args).fetchall()
        return [_row(r) for r in rows]

    def end_orphaned_sandboxes(self, info: str, returncode: int) -> int:
        cur = self.db.execute(
            "UPDATE sandboxes SET state = 'terminated', returncode = ?, info = ?, finished_at = ?"
            " WHERE state = 'running'",
            (returncode, info, time.time()),
        )
        return cur.rowcount
