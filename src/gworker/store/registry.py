"""SQL for the registry of named objects: a mixin over ``Store``'s connection (``self.db``).

One table holds every Dict, Queue, Volume and Secret (and any kind added later): its id, kind,
environment, name and times. A name is unique per (kind, environment); an object without a name
is ephemeral, or belongs to the app it was published with (``app_id``, an inline secret). Each
kind keeps its contents in tables of its own (``store/dicts.py``, ``queues.py``, ``volumes.py``,
``secrets.py``), keyed by the object's id and listed in ``CONTENTS`` so that deleting an object
deletes what it holds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from gworker_client._protocol.objects import ObjectKind

# A new table name (older databases had one table per kind): an older state.db still opens, and
# its named objects are not carried over (nothing before 1.0 is migrated).
SCHEMA_REGISTRY = """
CREATE TABLE IF NOT EXISTS registry (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,          -- ObjectKind: dict | queue | volume | secret
    environment TEXT NOT NULL,
    name TEXT,                   -- NULL: ephemeral, or inline with an app
    app_id TEXT,                 -- the app an inline object was published with
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS registry_name ON registry (kind, environment, name)
    WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS registry_app ON registry (app_id) WHERE app_id IS NOT NULL;
"""

# kind -> the (table, column naming the object) pairs that hold its contents
Contents = Mapping[ObjectKind, Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class NamedObject:
    """One registry entry."""

    id: str
    kind: ObjectKind
    environment: str
    name: str | None
    app_id: str | None
    created_at: float
    updated_at: float

    @property
    def label(self) -> str:
        """How messages name it: ``volume 'data'``, or ``volume vo-...`` if it has no name."""
        return f"{self.kind} {self.name!r}" if self.name is not None else f"{self.kind} {self.id}"


_COLUMNS = "SELECT id, kind, environment, name, app_id, created_at, updated_at FROM registry"


def _row(r: Sequence[Any]) -> NamedObject:
    return NamedObject(r[0], ObjectKind(r[1]), r[2], r[3], r[4], r[5], r[6])


class RegistryStore:
    """The registry; ``Store`` inherits it, runs ``SCHEMA_REGISTRY`` and sets ``contents``."""

    db: sqlite3.Connection
    contents: ClassVar[Contents] = {}

    def add_object(
        self,
        oid: str,
        kind: ObjectKind,
        environment: str,
        name: str | None,
        app_id: str | None = None,
    ) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO registry (id, kind, environment, name, app_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (oid, kind.value, environment, name, app_id, now, now),
        )

    def object(self, oid: str) -> NamedObject | None:
        row = self.db.execute(_COLUMNS + " WHERE id = ?", (oid,)).fetchone()
        return _row(row) if row else None

    def object_by_name(self, kind: ObjectKind, environment: str, name: str) -> NamedObject | None:
        row = self.db.execute(
            _COLUMNS + " WHERE kind = ? AND environment = ? AND name = ?",
            (kind.value, environment, name),
        ).fetchone()
        return _row(row) if row else None

    def named_objects(self, kind: ObjectKind, environment: str) -> list[NamedObject]:
        """The named objects of a kind in an environment, by name."""
        rows = self.db.execute(
            _COLUMNS + " WHERE kind = ? AND environment = ? AND name IS NOT NULL ORDER BY name",
            (kind.value, environment),
        )
        return [_row(r) for r in rows]

    def touch_object(self, oid: str) -> None:
        """Record that the object's contents changed now."""
        self.db.execute("UPDATE registry SET updated_at = ? WHERE id = ?", (time.time(), oid))

    def delete_object(self, oid: str) -> None:
        """Delete the object and everything it holds (nothing if there is no such object)."""
        found = self.object(oid)
        if found is None:
            return
        for table, column in self.contents.get(found.kind, ()):
            self.db.execute(f"DELETE FROM {table} WHERE {column} = ?", (oid,))
        self.db.execute("DELETE FROM registry WHERE id = ?", (oid,))

    def drop_stopped_apps_objects(self) -> None:
        """Delete the inline objects of stopped apps: no container of theirs starts again."""
        rows = self.db.execute(
            "SELECT id FROM registry WHERE app_id IN (SELECT id FROM apps WHERE state = 'stopped')"
        ).fetchall()
        for (oid,) in rows:
            self.delete_object(oid)
