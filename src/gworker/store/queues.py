"""SQL for a Queue's items: a mixin over ``Store``'s connection (``self.db``).

Items are opaque bytes (the SDK's pickles). An item taken by a get is kept, marked with the get's
id, for ``TAKEN_RETENTION_S``: a client that lost the response retries with the same id and
receives the same items instead of losing them. The Queue itself is a registry entry
(``store/registry.py``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from gworker_client._protocol.objects import ObjectKind

from .dicts import within

SCHEMA_QUEUES = """
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
CONTENTS = {ObjectKind.QUEUE: (("queue_items", "queue_id"),)}

# How long items taken by a get stay stored for a retry of that get (well past the SDK's
# reconnect window).
TAKEN_RETENTION_S = 300.0

_READY = "queue_id = ? AND partition = ? AND taken_by IS NULL"


class QueueStore:
    """Queue items; ``Store`` inherits it and runs ``SCHEMA_QUEUES``."""

    db: sqlite3.Connection

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
        taken = within(rows, lambda r: len(r[1]), max_bytes)
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
        return within(rows, lambda r: len(r[1]), max_bytes)

    def queue_clear(self, qid: str, partition: str | None) -> None:
        """Drop the waiting items of one partition, or of all of them (``partition=None``)."""
        if partition is None:
            self.db.execute(
                "DELETE FROM queue_items WHERE queue_id = ? AND taken_by IS NULL", (qid,)
            )
        else:
            self.db.execute(f"DELETE FROM queue_items WHERE {_READY}", (qid, partition))
