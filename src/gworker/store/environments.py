"""SQL for environments: a mixin over ``Store``'s connection (``self.db``).

An environment is a namespace for apps and named objects (their ``environment`` column names
it). ``main`` always exists; older databases gain a row for every environment their apps and
objects already use, so nothing they hold becomes unreachable.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass

DEFAULT_ENVIRONMENT = "main"

SCHEMA_ENVIRONMENTS = """
CREATE TABLE IF NOT EXISTS environments (
    name TEXT PRIMARY KEY,
    web_suffix TEXT NOT NULL,    -- put before the labels of its apps' web endpoints ('' = none)
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Environment:
    name: str
    web_suffix: str
    created_at: float


def default_web_suffix(name: str) -> str:
    """The default environment's URLs carry no suffix; any other's carry its name (as a DNS
    label: lowercased, other characters turned into dashes)."""
    if name == DEFAULT_ENVIRONMENT:
        return ""
    return re.sub("[^a-z0-9-]+", "-", name.lower()).strip("-")[:32].strip("-")


class EnvironmentStore:
    db: sqlite3.Connection

    def seed_environments(self) -> None:
        """``main``, and every environment that apps or named objects already use."""
        now = time.time()
        used = self.db.execute(
            "SELECT environment FROM apps UNION SELECT environment FROM registry"
        ).fetchall()
        for name in {DEFAULT_ENVIRONMENT, *(r[0] for r in used)}:
            self.db.execute(
                "INSERT OR IGNORE INTO environments VALUES (?, ?, ?)",
                (name, default_web_suffix(name), now),
            )

    def environments(self) -> list[Environment]:
        rows = self.db.execute("SELECT name, web_suffix, created_at FROM environments")
        return sorted((Environment(*r) for r in rows), key=lambda e: e.created_at)

    def environment(self, name: str) -> Environment | None:
        row = self.db.execute(
            "SELECT name, web_suffix, created_at FROM environments WHERE name = ?", (name,)
        ).fetchone()
        return Environment(*row) if row else None

    def add_environment(self, name: str, web_suffix: str) -> bool:
        """False when an environment of that name exists."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO environments VALUES (?, ?, ?)", (name, web_suffix, time.time())
        )
        return cur.rowcount == 1

    def set_web_suffix(self, name: str, web_suffix: str) -> None:
        self.db.execute("UPDATE environments SET web_suffix = ? WHERE name = ?", (web_suffix, name))

    def rename_environment(self, name: str, new_name: str) -> None:
        """The environment and everything in it (apps, named objects, usage history) under
        ``new_name``."""
        for table in ("environments", "apps", "registry", "usage_containers"):
            column = "name" if table == "environments" else "environment"
            self.db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new_name, name))

    def delete_environment(self, name: str) -> None:
        """The row only: its apps are stopped and its objects deleted by the caller first."""
        self.db.execute("DELETE FROM environments WHERE name = ?", (name,))

    def environment_objects(self, name: str) -> list[tuple[str, str]]:
        """``(id, kind)`` of every registry object in the environment, named or not."""
        rows = self.db.execute("SELECT id, kind FROM registry WHERE environment = ?", (name,))
        return [(r[0], r[1]) for r in rows]
