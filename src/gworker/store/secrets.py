"""SQL for secrets, encrypted at rest: a mixin over ``Store``'s connection (``self.db``).

A secret's values are a msgpack map encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key
kept in ``GW_HOME/secrets.key`` (mode 0600, created on first use), next to the database. Key
*names* are stored in clear (``gw secret list`` shows them); values only ever leave this module
decrypted for a container's environment.

The secret itself is a registry entry (``store/registry.py``): a named secret has a name there;
an inline secret (``Secret.from_dict`` and friends) has none and belongs to the app it was
published with. In memory (``Store(":memory:")``) the key lives only as long as the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import msgpack

from gworker_client._protocol.objects import ObjectKind

from .registry import RegistryStore

SCHEMA_SECRETS = """
CREATE TABLE IF NOT EXISTS secret_values (
    secret_id TEXT PRIMARY KEY,  -- its registry entry
    keys TEXT NOT NULL,          -- JSON list of the key names (not secret)
    data BLOB NOT NULL           -- Fernet token of the msgpack'd values
);
"""
CONTENTS = {ObjectKind.SECRET: (("secret_values", "secret_id"),)}
KEY_FILE = "secrets.key"


class SecretStore(RegistryStore):
    """Secret storage; ``Store`` inherits it and runs ``SCHEMA_SECRETS``."""

    db: sqlite3.Connection
    _fernet: Any = None

    # -- encryption ------------------------------------------------------------------------------

    def _cipher(self) -> Any:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            path = self._key_path()
            self._fernet = Fernet(_load_key(path) if path else Fernet.generate_key())
        return self._fernet

    def _key_path(self) -> Path | None:
        """Where the key is kept: next to the database (None for a database in memory)."""
        main = next(row[2] for row in self.db.execute("PRAGMA database_list") if row[1] == "main")
        return Path(main).parent / KEY_FILE if main else None

    def _seal(self, values: dict[str, str]) -> bytes:
        return bytes(self._cipher().encrypt(msgpack.packb(values, use_bin_type=True)))

    def _open(self, data: bytes) -> dict[str, str]:
        return dict(msgpack.unpackb(self._cipher().decrypt(data), raw=False))

    # -- values --------------------------------------------------------------------------------

    def put_secret_values(self, sid: str, values: dict[str, str]) -> None:
        """Set the values of the secret ``sid`` (a registry entry), replacing any it had."""
        self.db.execute(
            "INSERT INTO secret_values (secret_id, keys, data) VALUES (?, ?, ?)"
            " ON CONFLICT (secret_id) DO UPDATE SET keys = excluded.keys, data = excluded.data",
            (sid, json.dumps(sorted(values)), self._seal(values)),
        )
        self.touch_object(sid)

    def secret_keys(self, sid: str) -> list[str] | None:
        """The key names of a secret (never its values); None if it has none stored."""
        row = self.db.execute(
            "SELECT keys FROM secret_values WHERE secret_id = ?", (sid,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def secret_values(self, sid: str) -> dict[str, str] | None:
        """The decrypted values, for a container's environment only."""
        row = self.db.execute(
            "SELECT data FROM secret_values WHERE secret_id = ?", (sid,)
        ).fetchone()
        return self._open(row[0]) if row else None

    def inline_secret(self, app_id: str, values: dict[str, str]) -> str | None:
        """The id of the app's inline secret with exactly these values, if it has one (a
        redeploy reuses it instead of storing another copy)."""
        rows = self.db.execute(
            "SELECT r.id, v.keys, v.data FROM registry r JOIN secret_values v"
            " ON v.secret_id = r.id WHERE r.kind = ? AND r.app_id = ? AND r.name IS NULL",
            (ObjectKind.SECRET.value, app_id),
        ).fetchall()
        wanted = json.dumps(sorted(values))
        for sid, keys, data in rows:
            if keys == wanted and self._open(data) == values:
                return str(sid)
        return None


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
