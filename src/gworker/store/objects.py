"""SQL for Dicts and Queues: a mixin over ``Store``'s connection (``self.db``).

Keys and values are opaque bytes (the SDK's pickles): nothing here decodes them. A Dict entry is
identified by the exact bytes of its pickled key. A Queue item taken by a get is kept, marked with
the get's id, for ``TAKEN_RETENTION_S``: a client that lost the response retries with the same id
and receives the same items instead of losing them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

SCHEMA_OBJECTS = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL,  -- dict | queue
    name TEXT,                                -- NULL for an ephemeral object
    environment TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_name ON objects (kind, environment, name)
    WHERE name IS NOT NULL;
CREATE TABLE IF NOT EXISTS dict_entries (
    id INTEGER PRIMARY KEY, dict_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    expires_at REAL,                          -- NULL: never
    UNIQUE (dict_id, key)
);
CREATE INDEX IF NOT EXISTS dict_entries_expiry ON dict_entries (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS queue_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, queue_id TEXT NOT NULL, partition TEXT NOT NULL,
    value BLOB NOT NULL, put_id TEXT NOT NULL,
    taken_by TEXT, taken_at REAL              -- the get that removed it, kept for its retries
);
CREATE INDEX IF NOT EXISTS queue_items_ready ON queue_items (queue_id, partition, seq)
    WHERE taken_by IS NULL;
CREATE INDEX IF NOT EXISTS queue_items_put ON queue_items (put_id);
CREATE INDEX IF NOT EXISTS queue_items_taken ON queue_items (taken_by) WHERE taken_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS queue_items_taken_at ON queue_items (taken_at)
    WHERE taken_at IS NOT NULL;
"""

# How long items taken by a get stay stored for a retry of that get (well past the SDK's
# reconnect window).
TAKEN_RETENTION_S = 300.0

Row = TypeVar("Row")
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_READY = "queue_id = ? AND partition = ? AND taken_by IS NULL"


class ObjectStore:
    """Dict and Queue storage; ``Store`` inherits it and runs ``SCHEMA_OBJECTS``."""

    db: sqlite3.Connection

    # -- objects ---------------------------------------------------------------------------------

    def add_object(self, oid: str, kind: str, name: str | None, environment: str) -> None:
        row = (oid, kind, name, environment, time.time())
        self.db.execute("INSERT INTO objects VALUES (?, ?, ?, ?, ?)", row)

    def object_kind(self, oid: str) -> str | None:
        row = self.db.execute("SELECT kind FROM objects WHERE id = ?", (oid,)).fetchone()
        return row[0] if row else None

    def object_by_name(self, kind: str, environment: str, name: str) -> str | None:
        row = self.db.execute(
            "SELECT id FROM objects WHERE kind = ? AND environment = ? AND name = ?",
            (kind, environment, name),
        ).fetchone()
        return row[0] if row else None

    def named_objects(self, kind: str, environment: str) -> list[dict[str, Any]]:
        """The named objects of a kind, oldest first, with their live item counts."""
        rows = self.db.execute(
            "SELECT id, name, created_at FROM objects"
            " WHERE kind = ? AND environment = ? AND name IS NOT NULL ORDER BY created_at",
            (kind, environment),
        ).fetchall()
        count = self.dict_len if kind == "dict" else self.queue_total
        return [
            {"id": oid, "name": name, "created_at": created, "items": count(oid)}
            for oid, name, created in rows
        ]

    def delete_object(self, oid: str) -> None:
        self.db.execute("DELETE FROM objects WHERE id = ?", (oid,))
        self.db.execute("DELETE FROM dict_entries WHERE dict_id = ?", (oid,))
        self.db.execute("DELETE FROM queue_items WHERE queue_id = ?", (oid,))

    # -- dicts -----------------------------------------------------------------------------------

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
        return _within(rows, lambda r: len(r[0]) + len(r[1] or b""), max_bytes)

    # -- queues ----------------------------------------------------------------------------------

    def queue_len(self, qid: str, partition: str) -> int:
        row = self.db.execute(f"SELECT COUNT(*) FROM queue_items WHERE {_READY}", (qid, partition))
        return int(row.fetchone()[0])

    def queue_total(self, qid: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM queue_items WHERE queue_id = ? AND taken_by IS NULL", (qid,)
        )
        return int(row.fetchone()[0])

    def queue_put_done(self, put_id: str) -> bool:
        """Whether a put with this id was stored already (its client is retrying)."""
        row = self.db.execute("SELECT 1 FROM queue_items WHERE put_id = ? LIMIT 1", (put_id,))
        return row.fetchone() is not None

    def queue_put(self, qid: str, partition: str, values: Sequence[bytes], put_id: str) -> None:
        self.db.executemany(
            "INSERT INTO queue_items (queue_id, partition, value, put_id) VALUES (?, ?, ?, ?)",
            [(qid, partition, v, put_id) for v in values],
        )

    def queue_taken(self, get_id: str) -> list[bytes]:
        """The items a get with this id took already (empty if it took none)."""
        rows = self.db.execute(
            "SELECT value FROM queue_items WHERE taken_by = ? ORDER BY seq", (get_id,)
        )
        return [r[0] for r in rows]

    def queue_take(
        self, qid: str, partition: str, n: int, max_bytes: int, get_id: str
    ) -> list[bytes]:
        """Remove up to ``n`` items (about ``max_bytes`` at most, at least one) in FIFO order."""
        now = time.time()
        self.db.execute("DELETE FROM queue_items WHERE taken_at < ?", (now - TAKEN_RETENTION_S,))
        rows = self.db.execute(
            f"SELECT seq, value FROM queue_items WHERE {_READY} ORDER BY seq LIMIT ?",
            (qid, partition, n),
        )
        taken = _within(rows, lambda r: len(r[1]), max_bytes)
        self.db.executemany(
            "UPDATE queue_items SET taken_by = ?, taken_at = ? WHERE seq = ?",
            [(get_id, now, seq) for seq, _ in taken],
        )
        return [value for _, value in taken]

    def queue_peek(
        self, qid: str, partition: str, after: int, n: int, max_bytes: int
    ) -> list[tuple[int, bytes]]:
        """Items after position ``after``, in order, without removing them."""
        rows = self.db.execute(
            f"SELECT seq, value FROM queue_items WHERE {_READY} AND seq > ? ORDER BY seq LIMIT ?",
            (qid, partition, after, n),
        )
        return _within(rows, lambda r: len(r[1]), max_bytes)

    def queue_clear(self, qid: str, partition: str | None) -> None:
        """Drop the waiting items of one partition, or of all of them (``partition=None``)."""
        if partition is None:
            self.db.execute(
                "DELETE FROM queue_items WHERE queue_id = ? AND taken_by IS NULL", (qid,)
            )
        else:
            self.db.execute(f"DELETE FROM queue_items WHERE {_READY}", (qid, partition))


def _within(rows: Iterable[Row], size: Callable[[Row], int], max_bytes: int) -> list[Row]:
    """The leading rows whose sizes add up to ``max_bytes`` at most (always at least one)."""
    page: list[Row] = []
    total = 0
    for row in rows:
        total += size(row)
        if page and total > max_bytes:
            break
        page.append(row)
    return page
