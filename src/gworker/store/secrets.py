"""SQL for secrets, encrypted at rest: a mixin over ``Store``'s connection (``self.db``).

A secret's values are a msgpack map encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key
kept in ``GW_HOME/secrets.key`` (mode 0600, created on first use), next to the database. Key
*names* are stored in clear (``gw secret list`` shows them); values only ever leave this module
decrypted for a container's environment.

A named secret has a name (unique in its environment); an inline secret (``Secret.from_dict``
and friends) has none and belongs to the app it was published with.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgpack

SCHEMA_SECRETS = """
CREATE TABLE IF NOT EXISTS secrets (
    id TEXT PRIMARY KEY,
    name TEXT,                   -- NULL for an inline secret
    environment TEXT NOT NULL,
    app_id TEXT,                 -- the app an inline secret was published with
    keys TEXT NOT NULL,          -- JSON list of the key names (not secret)
    data BLOB NOT NULL,          -- Fernet token of the msgpack'd values
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS secrets_name ON secrets (environment, name)
    WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS secrets_app ON secrets (app_id) WHERE app_id IS NOT NULL;
"""
KEY_FILE = "secrets.key"


class SecretStore:
    """Secret storage; ``Store`` inherits it and runs ``SCHEMA_SECRETS``."""

    db: sqlite3.Connection
    _fernet: Any = None

    # -- encryption ------------------------------------------------------------------------------

    def _cipher(self) -> Any:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            self._fernet = Fernet(_load_key(self._key_path()))
        return self._fernet

    def _key_path(self) -> Path:
        main = next(row[2] for row in self.db.execute("PRAGMA database_list") if row[1] == "main")
        return Path(main).parent / KEY_FILE

    def _seal(self, values: dict[str, str]) -> bytes:
        return bytes(self._cipher().encrypt(msgpack.packb(values, use_bin_type=True)))

    def _open(self, data: bytes) -> dict[str, str]:
        return dict(msgpack.unpackb(self._cipher().decrypt(data), raw=False))

    # -- named secrets ---------------------------------------------------------------------------

    def secret_by_name(self, environment: str, name: str) -> str | None:
        row = self.db.execute(
            "SELECT id FROM secrets WHERE environment = ? AND name = ?", (environment, name)
        ).fetchone()
        return row[0] if row else None

    def put_secret(
        self,
        sid: str,
        name: str | None,
        environment: str,
        values: dict[str, str],
        app_id: str | None = None,
    ) -> None:
        """Create the secret ``sid``, or replace the values of the existing one."""
        now = time.time()
        keys = json.dumps(sorted(values))
        self.db.execute(
            "INSERT INTO secrets (id, name, environment, app_id, keys, data, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " keys = excluded.keys, data = excluded.data, updated_at = excluded.updated_at",
            (sid, name, environment, app_id, keys, self._seal(values), now, now),
        )

    def secret_keys(self, sid: str) -> list[str] | None:
        row = self.db.execute("SELECT keys FROM secrets WHERE id = ?", (sid,)).fetchone()
        return json.loads(row[0]) if row else None

    def named_secrets(self, environment: str) -> list[dict[str, Any]]:
        """Names, key names and times of an environment's named secrets (never values)."""
        rows = self.db.execute(
            "SELECT name, keys, created_at, updated_at FROM secrets"
            " WHERE environment = ? AND name IS NOT NULL ORDER BY name",
            (environment,),
        )
        return [
            {"name": n, "keys": json.loads(k), "created_at": c, "updated_at": u}
            for n, k, c, u in rows
        ]

    def delete_secret(self, sid: str) -> None:
        self.db.execute("DELETE FROM secrets WHERE id = ?", (sid,))

    # -- inline secrets --------------------------------------------------------------------------

    def inline_secret(self, app_id: str, values: dict[str, str]) -> str | None:
        """The id of the app's inline secret with exactly these values, if it has one (a
        redeploy reuses it instead of storing another copy)."""
        rows = self.db.execute(
            "SELECT id, keys, data FROM secrets WHERE app_id = ? AND name IS NULL", (app_id,)
        ).fetchall()
        wanted = json.dumps(sorted(values))
        for sid, keys, data in rows:
            if keys == wanted and self._open(data) == values:
                return str(sid)
        return None

    def drop_stopped_apps_secrets(self) -> None:
        """Inline secrets of stopped apps: no container of theirs starts again."""
        self.db.execute(
            "DELETE FROM secrets WHERE app_id IN (SELECT id FROM apps WHERE state = 'stopped')"
        )

    # -- containers ------------------------------------------------------------------------------

    def secret_values(self, sid: str) -> dict[str, str] | None:
        row = self.db.execute("SELECT data FROM secrets WHERE id = ?", (sid,)).fetchone()
        return self._open(row[0]) if row else None


def _load_key(path: Path) -> bytes:
    """The Fernet key in ``path``, written (mode 0600) if there is none yet."""
    from cryptography.fernet import Fernet

    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key
