"""SQL for a Dict's entries: a mixin over ``Store``'s connection (``self.db``).

Keys and values are opaque bytes (the SDK's pickles): nothing here decodes them. An entry is
identified by the exact bytes of its pickled key. The Dict itself is a registry entry
(``store/registry.py``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from gworker_client._protocol.objects import ObjectKind

SCHEMA_DICTS = """
CREATE TABLE IF NOT EXISTS dict_entries (
    id INTEGER PRIMARY KEY, dict_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    expires_at REAL,                          -- NULL: never
    UNIQUE (dict_id, key)
);
CREATE INDEX IF NOT EXISTS dict_entries_expiry ON dict_entries (expires_at)
    WHERE expires_at IS NOT NULL;
"""
CONTENTS = {ObjectKind.DICT: (("dict_entries", "dict_id"),)}

Row = TypeVar("Row")
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


class DictStore:
    """Dict entries; ``Store`` inherits it and runs ``SCHEMA_DICTS``."""

    db: sqlite3.Connection

    def purge_expired(self) -> None:
        self.db.execute("DELETE FROM dict_entries WHERE expires_at <= ?", (time.time(),))

    def dict_get(self, did: str, key: bytes) -> bytes | None:
        row = self.db.execute(
            f"SELECT value FROM dict_entries WHERE dict_id = ? AND key = ? AND {_LIVE}",
            (did, key, time.time()),
        ).fetchone()
        return row[0] if row else None

    def dict_contains(self, did: str, key: bytes) -> bool:
        row = self.db.execute(
            f"SELECT 1 FROM dict_entries WHERE dict_id = ? AND key = ? AND {_LIVE}",
            (did, key, time.time()),
        ).fetchone()
        return row is not None

    def dict_put(
        self,
        did: str,
        items: Sequence[tuple[bytes, bytes]],
        expires_at: float | None,
        skip_if_exists: bool,
    ) -> int:
        """Write entries (expired ones count as absent); return how many were written."""
        self.purge_expired()
        conflict = (
            "DO NOTHING"
            if skip_if_exists
            else ("DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at")
        )
        before = self.db.total_changes
        self.db.executemany(
            "INSERT INTO dict_entries (dict_id, key, value, expires_at) VALUES (?, ?, ?, ?)"
            f" ON CONFLICT (dict_id, key) {conflict}",
            [(did, k, v, expires_at) for k, v in items],
        )
        return self.db.total_changes - before

    def dict_pop(self, did: str, key: bytes) -> bytes | None:
        value = self.dict_get(did, key)
        if value is not None:
            self.db.execute("DELETE FROM dict_entries WHERE dict_id = ? AND key = ?", (did, key))
        return value

    def dict_len(self, did: str) -> int:
        row = self.db.execute(
            f"SELECT COUNT(*) FROM dict_entries WHERE dict_id = ? AND {_LIVE}", (did, time.time())
        ).fetchone()
        return int(row[0])

    def dict_clear(self, did: str) -> None:
        self.db.execute("DELETE FROM dict_entries WHERE dict_id = ?", (did,))

    def dict_scan(
        self, did: str, after: bytes | None, with_values: bool, limit: int, max_bytes: int
    ) -> list[tuple[bytes, bytes | None]]:
        """Live entries with keys after ``after`` in key order: at most ``limit`` of them, and
        no more than about ``max_bytes`` of values (always at least one)."""
        columns = "key, value" if with_values else "key, NULL"
        rows = self.db.execute(
            f"SELECT {columns} FROM dict_entries WHERE dict_id = ? AND key > ? AND {_LIVE}"
            " ORDER BY key LIMIT ?",
            (did, after or b"", time.time(), limit),
        )
        return within(rows, lambda r: len(r[0]) + len(r[1] or b""), max_bytes)


def within(rows: Iterable[Row], size: Callable[[Row], int], max_bytes: int) -> list[Row]:
    """The leading rows whose sizes add up to ``max_bytes`` at most (always at least one)."""
    page: list[Row] = []
    total = 0
    for row in rows:
        total += size(row)
        if page and total > max_bytes:
            break
        page.append(row)
    return page
