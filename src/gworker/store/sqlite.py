"""The control plane's state in SQLite (WAL): everything acknowledged survives a restart.

One connection, used only from the server's event loop thread. Statements are short and
batched; a caller groups related writes and calls ``commit()`` once. ``Store(":memory:")`` keeps
everything in memory instead (for tests and throwaway servers): the same SQL, no file, no WAL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgpack

from . import dicts, queues, secrets, volumes
from .call_graph import SCHEMA_CALL_GRAPH, CallGraphStore
from .calls import CallStore
from .dicts import SCHEMA_DICTS, DictStore
from .environments import SCHEMA_ENVIRONMENTS, EnvironmentStore
from .identities import IdentityStore
from .payloads import SCHEMA_PAYLOADS, PayloadStore
from .queues import SCHEMA_QUEUES, QueueStore
from .registry import SCHEMA_REGISTRY
from .retention import SCHEMA_RETENTION, RetentionStore
from .sandboxes import SCHEMA_SANDBOXES, SandboxStore
from .schedules import SCHEMA_SCHEDULES, ScheduleStore
from .secrets import SCHEMA_SECRETS, SecretStore
from .usage import SCHEMA_USAGE, UsageStore
from .volumes import SCHEMA_VOLUMES, VolumeStore

MEMORY = ":memory:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, environment TEXT NOT NULL,
    mode TEXT NOT NULL,          -- ephemeral | deployed
    state TEXT NOT NULL,         -- running | stopped
    created_at REAL NOT NULL, stopped_at REAL, version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS apps_name ON apps (environment, name, state);
CREATE TABLE IF NOT EXISTS functions (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, tag TEXT NOT NULL, version INTEGER NOT NULL,
    live INTEGER NOT NULL,       -- 0 once superseded by a redeploy or stopped
    module TEXT NOT NULL, code_blob TEXT NOT NULL, spec BLOB NOT NULL, created_at REAL NOT NULL,
    parent_id TEXT,              -- set on a class bound to one set of parameter values
    params_key TEXT, params BLOB
);
CREATE INDEX IF NOT EXISTS functions_app ON functions (app_id, tag, live);
CREATE UNIQUE INDEX IF NOT EXISTS functions_bound ON functions (parent_id, params_key);
CREATE TABLE IF NOT EXISTS probes (
    seq INTEGER PRIMARY KEY, container_id TEXT NOT NULL, function_id TEXT NOT NULL,
    app_id TEXT NOT NULL, method TEXT NOT NULL, kind TEXT NOT NULL, ok INTEGER NOT NULL,
    detail TEXT NOT NULL, duration REAL NOT NULL, ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS probes_app ON probes (app_id, seq);
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY, function_id TEXT NOT NULL, total INTEGER, created_at REAL NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0
);
-- named objects pickled into a call's inputs (restrict_modal_access: its callee may use them)
CREATE TABLE IF NOT EXISTS call_objects (
    call_id TEXT NOT NULL, object_id TEXT NOT NULL, PRIMARY KEY (call_id, object_id)
);
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, idx INTEGER NOT NULL,
    function_id TEXT NOT NULL, args BLOB NOT NULL,
    state TEXT NOT NULL,         -- pending | done
    attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    UNIQUE (call_id, idx)
);
CREATE INDEX IF NOT EXISTS inputs_pending ON inputs (state) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS outputs (
    seq INTEGER PRIMARY KEY, input_id INTEGER NOT NULL UNIQUE, call_id TEXT NOT NULL,
    idx INTEGER NOT NULL, status TEXT NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_call ON outputs (call_id, seq);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY, function_id TEXT NOT NULL, app_id TEXT NOT NULL,
    state TEXT NOT NULL, pid INTEGER, started_at REAL NOT NULL, stopped_at REAL, exit_info TEXT
);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY, app_id TEXT NOT NULL, container_id TEXT,
    stream TEXT NOT NULL, text TEXT NOT NULL, ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_app ON logs (app_id, seq);
"""


class Checkpointer:
    """Copies the WAL back into the database every few seconds on a thread of its own, so the
    event loop's commits never wait for a checkpoint's fsync."""

    PERIOD_S = 2.0

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gw-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None)
        try:
            while not self._stop.wait(self.PERIOD_S):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


class Store(
    CallStore,
    CallGraphStore,
    DictStore,
    QueueStore,
    SecretStore,
    VolumeStore,
    ScheduleStore,
    SandboxStore,
    UsageStore,
    EnvironmentStore,
    IdentityStore,
    PayloadStore,
    RetentionStore,
):
    """The control plane's state: in the SQLite file ``path``, or in memory (``":memory:"``)."""

    contents = {**dicts.CONTENTS, **queues.CONTENTS, **secrets.CONTENTS, **volumes.CONTENTS}

    def __init__(self, path: Path | str) -> None:
        in_memory = str(path) == MEMORY
        if not in_memory:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.checkpointer: Checkpointer | None = None
        if not in_memory:
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (what a restart must survive); only
            # a power loss can drop the last transactions.
            self.db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints fsync; run them off the event loop (see Checkpointer), not inside
            # commits.
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            # the WAL is cut back to this when it starts over after a checkpoint caught up
            self.db.execute("PRAGMA journal_size_limit=67108864")
        self.db.executescript(SCHEMA)
        if not in_memory:
            self.checkpointer = Checkpointer(Path(path))
        self._next_input_id = int(self._one("SELECT COALESCE(MAX(id), 0) + 1 FROM inputs")[0])
        for schema in (
            SCHEMA_REGISTRY,
            SCHEMA_DICTS,
            SCHEMA_QUEUES,
            SCHEMA_SECRETS,
            SCHEMA_VOLUMES,
            SCHEMA_SCHEDULES,
            SCHEMA_SANDBOXES,
            SCHEMA_USAGE,
            SCHEMA_ENVIRONMENTS,
            SCHEMA_CALL_GRAPH,
            SCHEMA_PAYLOADS,
            SCHEMA_RETENTION,
        ):
            self.db.executescript(schema)
        self.seed_environments()
        self._migrate_identities()
        self._next_output_seq = int(self._one("SELECT COALESCE(MAX(seq), 0) + 1 FROM outputs")[0])
        # past any ids of inputs and outputs the retention sweep deleted (retention.py)
        self._next_input_id = max(self._next_input_id, self.high_water("input_id") + 1)
        self._next_output_seq = max(self._next_output_seq, self.high_water("output_seq") + 1)
        self.db.execute("BEGIN")

    @classmethod
    def in_memory(cls) -> Store:
        """A store that keeps everything in memory and is gone when closed."""
        return cls(MEMORY)

    def commit(self) -> None:
        try:
            self.db.execute("COMMIT")
        except sqlite3.OperationalError:
            # a full disk (SQLITE_FULL) or an I/O error: SQLite asks for an explicit rollback.
            # The writes since the last commit are dropped; none of them was acknowledged.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        finally:
            if not self.db.in_transaction:
                self.db.execute("BEGIN")

    def close(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()

    # -- apps ------------------------------------------------------------------------------------

    def add_app(self, app_id: str, name: str, environment: str, mode: str) -> None:
        self.db.execute(
            "INSERT INTO apps (id, name, environment, mode, state, created_at)"
            " VALUES (?, ?, ?, ?, 'running', ?)",
            (app_id, name, environment, mode, time.time()),
        )

    def deployed_app(self, name: str, environment: str) -> str | None:
        row = self._one(
            "SELECT id FROM apps WHERE environment = ? AND name = ? AND mode = 'deployed'"
            " AND state = 'running'",
            environment,
            name,
        )
        return row[0] if row else None

    def app(self, app_id: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT id, name, environment, mode, state, created_at, stopped_at, version"
            " FROM apps WHERE id = ?",
            app_id,
        )
        return _app_row(row) if row else None

    def apps(self, environment: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, name, environment, mode, state, created_at, stopped_at, version FROM apps"
        rows = (
            self.db.execute(sql + " WHERE environment = ? ORDER BY created_at", (environment,))
            if environment
            else self.db.execute(sql + " ORDER BY created_at")
        )
        return [_app_row(r) for r in rows]

    def bump_app_version(self, app_id: str) -> int:
        self.db.execute("UPDATE apps SET version = version + 1 WHERE id = ?", (app_id,))
        return int(self._one("SELECT version FROM apps WHERE id = ?", app_id)[0])

    def stop_app(self, app_id: str) -> None:
        self.db.execute(
            "UPDATE apps SET state = 'stopped', stopped_at = ? WHERE id = ?", (time.time(), app_id)
        )
        self.db.execute("UPDATE functions SET live = 0 WHERE app_id = ?", (app_id,))

    # -- functions -------------------------------------------------------------------------------

    def add_function(
        self, fid: str, app_id: str, tag: str, version: int, module: str, blob: str, spec: dict
    ) -> None:
        self.db.execute("UPDATE functions SET live = 0 WHERE app_id = ? AND tag = ?", (app_id, tag))
        self.db.execute(
            "INSERT INTO functions (id, app_id, tag, version, live, module, code_blob, spec,"
            " created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (fid, app_id, tag, version, module, blob, pack(spec), time.time()),
        )

    def bind_function(
        self, parent: dict[str, Any], key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> str:
        """The function id of a class bound to one set of parameter values, or of a variant
        with its own ``spec`` (made once per ``key``)."""
        row = self._one(
            "SELECT id FROM functions WHERE parent_id = ? AND params_key = ?", parent["id"], key
        )
        if row:
            return str(row[0])
        fid = parent["id"] + "-" + key[:12]
        self.db.execute(
            "INSERT INTO functions (id, app_id, tag, version, live, module, code_blob, spec,"
            " created_at, parent_id, params_key, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?)",
            (
                fid,
                parent["app_id"],
                parent["tag"],
                parent["version"],
                parent["live"],
                parent["module"],
                parent["code_blob"],
                pack(spec),
                time.time(),
                parent["id"],
                key,
                pack(params),
            ),
        )
        return fid

    def retire_functions(self, app_id: str, keep: Iterable[str]) -> None:
        """Mark the app's functions not in ``keep`` (and classes bound from them) not live."""
        keep_json = json.dumps(sorted(keep))
        self.db.execute(
            "UPDATE functions SET live = 0 WHERE app_id = ? AND live = 1"
            " AND id NOT IN (SELECT value FROM json_each(?))"
            " AND (parent_id IS NULL OR parent_id NOT IN (SELECT value FROM json_each(?)))",
            (app_id, keep_json, keep_json),
        )

    def functions(self, live_only: bool = True) -> list[dict[str, Any]]:
        rows = self.db.execute(_FUNCTION_COLUMNS + (" WHERE live = 1" if live_only else ""))
        return [_function_row(r) for r in rows]

    def function(self, fid: str) -> dict[str, Any] | None:
        row = self._one(_FUNCTION_COLUMNS + " WHERE id = ?", fid)
        return _function_row(row) if row else None

    def live_function(self, app_id: str, tag: str) -> str | None:
        row = self._one(
            "SELECT id FROM functions WHERE app_id = ? AND tag = ? AND live = 1"
            " AND parent_id IS NULL",
            app_id,
            tag,
        )
        return row[0] if row else None

    def app_functions(self, app_id: str) -> dict[str, str]:
        return dict(
            self.db.execute(
                "SELECT tag, id FROM functions WHERE app_id = ? AND live = 1 AND parent_id IS NULL",
                (app_id,),
            )
        )

    def app_versions(self, app_id: str) -> list[dict[str, Any]]:
        """Every published version of an app, oldest first: when, which functions, live or not."""
        rows = self.db.execute(
            "SELECT version, MIN(created_at), MAX(live), group_concat(tag, ',') FROM functions"
            " WHERE app_id = ? AND parent_id IS NULL GROUP BY version ORDER BY version",
            (app_id,),
        )
        return [
            {"version": v, "created_at": t, "live": bool(on), "functions": sorted(tags.split(","))}
            for v, t, on, tags in rows
        ]

    def version_functions(self, app_id: str, version: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            _FUNCTION_COLUMNS + " WHERE app_id = ? AND version = ? AND parent_id IS NULL",
            (app_id, version),
        )
        return [_function_row(r) for r in rows]

    # -- containers and logs ---------------------------------------------------------------------

    def add_container(self, cid: str, fid: str, app_id: str) -> None:
        self.db.execute(
            "INSERT INTO containers (id, function_id, app_id, state, started_at)"
            " VALUES (?, ?, ?, 'starting', ?)",
            (cid, fid, app_id, time.time()),
        )

    def set_container(
        self, cid: str, state: str, pid: int | None = None, exit_info: str = ""
    ) -> None:
        if state == "stopped":
            self.db.execute(
                "UPDATE containers SET state = ?, stopped_at = ?, exit_info = ? WHERE id = ?",
                (state, time.time(), exit_info, cid),
            )
        else:
            self.db.execute(
                "UPDATE containers SET state = ?, pid = COALESCE(?, pid) WHERE id = ?",
                (state, pid, cid),
            )

    def live_containers(self) -> list[tuple[str, int | None]]:
        return self.db.execute("SELECT id, pid FROM containers WHERE state != 'stopped'").fetchall()

    def containers_of_app(self, app_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The app's newest containers, running or not, newest first (for the dashboard)."""
        rows = self.db.execute(
            "SELECT c.id, f.tag, c.state, c.pid, c.started_at, c.stopped_at, c.exit_info"
            " FROM containers c LEFT JOIN functions f ON f.id = c.function_id"
            " WHERE c.app_id = ? ORDER BY c.started_at DESC LIMIT ?",
            (app_id, limit),
        )
        keys = ("id", "function", "state", "pid", "started_at", "stopped_at", "exit_info")
        return [dict(zip(keys, r)) for r in rows]

    def container_row(self, cid: str) -> dict[str, Any] | None:
        """One container, running or not, with its app and function (for the dashboard)."""
        row = self._one(
            "SELECT c.id, f.tag, c.state, c.pid, c.started_at, c.stopped_at, c.exit_info,"
            " c.app_id, c.function_id FROM containers c"
            " LEFT JOIN functions f ON f.id = c.function_id WHERE c.id = ?",
            cid,
        )
        keys = ("id", "function", "state", "pid", "started_at", "stopped_at", "exit_info")
        return {**dict(zip(keys, row)), "app_id": row[7], "function_id": row[8]} if row else None

    def container_logs(
        self, container_id: str, after: int, limit: int = 1000
    ) -> list[tuple[int, str, str]]:
        return self.db.execute(
            "SELECT seq, stream, text FROM logs WHERE container_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (container_id, after, limit),
        ).fetchall()

    def add_probe(self, row: tuple[str, str, str, str, str, bool, str, float]) -> None:
        """Record one probe result: (container, function, app, method, kind, ok, detail, s)."""
        self.db.execute(
            "INSERT INTO probes (container_id, function_id, app_id, method, kind, ok, detail,"
            " duration, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, time.time()),
        )

    def probes(self, app_id: str, limit: int = 200) -> list[tuple[Any, ...]]:
        rows = self.db.execute(
            "SELECT container_id, method, kind, ok, detail, duration, ts FROM probes"
            " WHERE app_id = ? ORDER BY seq DESC LIMIT ?",
            (app_id, limit),
        ).fetchall()
        return rows[::-1]

    def add_logs(self, rows: Sequence[tuple[str, str | None, str, str, float]]) -> None:
        self.db.executemany(
            "INSERT INTO logs (app_id, container_id, stream, text, ts) VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def last_log(self, app_id: str) -> int:
        row = self._one("SELECT MAX(seq) FROM logs WHERE app_id = ?", app_id)
        return int(row[0] or 0)

    def container_app(self, cid: str) -> str | None:
        row = self._one("SELECT app_id FROM containers WHERE id = ?", cid)
        return str(row[0]) if row else None

    def container_logs_after(
        self, cid: str, after: int, limit: int = 1000
    ) -> list[tuple[int, str, str]]:
        return self.db.execute(
            "SELECT seq, stream, text FROM logs WHERE container_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (cid, after, limit),
        ).fetchall()

    def logs_after(self, app_id: str, after: int, limit: int = 1000) -> list[tuple[int, str, str]]:
        return self.db.execute(
            "SELECT seq, stream, text FROM logs WHERE app_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (app_id, after, limit),
        ).fetchall()


def _app_row(r: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "name", "environment", "mode", "state", "created_at", "stopped_at", "version")
    return dict(zip(keys, r))


_FUNCTION_COLUMNS = (
    "SELECT id, app_id, tag, version, live, module, code_blob, spec, parent_id, params,"
    " created_at FROM functions"
)


def _function_row(r: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "app_id", "tag", "version", "live", "module", "code_blob")
    return {
        **dict(zip(keys, r[:7])),
        "spec": unpack(r[7]),
        "parent_id": r[8],
        "params": unpack(r[9]) if r[9] is not None else None,
        "created_at": r[10],
    }
