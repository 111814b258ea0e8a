"""Large arguments and results in the blob store, and what holds each of them.

A blob uploaded as a payload (``PUT /v1/blobs/{digest}?payload=1``) is *tracked*: a row in
``payload_blobs`` with the time it was last touched (uploaded, found by an existence check, or
let go by its last holder). A stored input holds the blob of its arguments until its output is
stored; a stored output holds the blob of its result until it is handed to a caller or its
``until`` passes. A tracked blob with no holder whose grace since its last touch has passed is
deleted (``server/payloads.py``). Blobs without a row (code bundles, image files, image archives,
payloads from before tracking) are never deleted by this: the sweep only deletes what it tracks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

SCHEMA_PAYLOADS = """
CREATE TABLE IF NOT EXISTS payload_blobs (
    digest TEXT PRIMARY KEY, touched_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS payload_holds (
    call_id TEXT NOT NULL, idx INTEGER NOT NULL,
    role TEXT NOT NULL,          -- args | result
    digest TEXT NOT NULL,
    until REAL,                  -- a result's: when it expires unfetched; NULL: until released
    PRIMARY KEY (call_id, idx, role)
);
CREATE INDEX IF NOT EXISTS payload_holds_digest ON payload_holds (digest);
CREATE INDEX IF NOT EXISTS payload_holds_until ON payload_holds (until) WHERE until IS NOT NULL;
"""

Hold = tuple[str, int, str, str, float | None]  # (call id, index, role, digest, until)
HoldKey = tuple[str, int, str]  # (call id, index, role)


class PayloadStore:
    db: sqlite3.Connection

    def track_payload(self, digest: str, now: float) -> None:
        """A payload blob was just uploaded: track it (its grace starts now)."""
        self.db.execute(
            "INSERT INTO payload_blobs (digest, touched_at) VALUES (?, ?)"
            " ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at",
            (digest, now),
        )

    def touch_payloads(self, digests: Iterable[str], now: float) -> None:
        """Start the grace of these tracked blobs again (untracked ones stay untracked)."""
        self.db.executemany(
            "UPDATE payload_blobs SET touched_at = ? WHERE digest = ?",
            [(now, d) for d in digests],
        )

    def is_tracked_payload(self, digest: str) -> bool:
        row = self.db.execute("SELECT 1 FROM payload_blobs WHERE digest = ?", (digest,))
        return row.fetchone() is not None

    def pin_blob(self, digest: str) -> None:
        """The blob has a use that is not a payload's (a code bundle, an image's file): it is
        no longer tracked, so it is never deleted as one."""
        self.db.execute("DELETE FROM payload_blobs WHERE digest = ?", (digest,))

    def hold_payloads(self, holds: Sequence[Hold]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO payload_holds (call_id, idx, role, digest, until)"
            " VALUES (?, ?, ?, ?, ?)",
            holds,
        )

    def release_payloads(self, keys: Sequence[HoldKey], now: float) -> None:
        """Let go of these holds; their blobs' grace starts again."""
        for call_id, idx, role in keys:
            row = self.db.execute(
                "DELETE FROM payload_holds WHERE call_id = ? AND idx = ? AND role = ?"
                " RETURNING digest",
                (call_id, idx, role),
            ).fetchone()
            if row:
                self.touch_payloads([row[0]], now)

    def expire_payload_holds(self, now: float, limit: int) -> int:
        """Drop at most ``limit`` result holds whose time passed; return how many."""
        cur = self.db.execute(
            "DELETE FROM payload_holds WHERE rowid IN (SELECT rowid FROM payload_holds"
            " WHERE until IS NOT NULL AND until < ? LIMIT ?)",
            (now, limit),
        )
        return cur.rowcount

    def payload_page(self, after: int, limit: int) -> list[tuple[int, str, float, bool]]:
        """Up to ``limit`` tracked blobs past the row cursor ``after``:
        ``(rowid, digest, touched_at, held)``; ``held`` counts any holder, and any function
        whose code bundle it is."""
        return [
            (r[0], r[1], r[2], bool(r[3]))
            for r in self.db.execute(
                "SELECT b.rowid, b.digest, b.touched_at,"
                " EXISTS (SELECT 1 FROM payload_holds h WHERE h.digest = b.digest)"
                " OR b.digest IN (SELECT code_blob FROM functions)"
                " FROM payload_blobs b WHERE b.rowid > ? ORDER BY b.rowid LIMIT ?",
                (after, limit),
            )
        ]

    def forget_payloads(self, digests: Sequence[str]) -> None:
        self.db.executemany("DELETE FROM payload_blobs WHERE digest = ?", [(d,) for d in digests])

    def held_args(self) -> list[tuple[str, int]]:
        """``(call id, index)`` of the stored inputs whose arguments hold a blob."""
        rows = self.db.execute("SELECT call_id, idx FROM payload_holds WHERE role = 'args'")
        return [(r[0], r[1]) for r in rows]

    def payload_holds_of(self, digest: str) -> list[HoldKey]:
        rows = self.db.execute(
            "SELECT call_id, idx, role FROM payload_holds WHERE digest = ? ORDER BY call_id, idx",
            (digest,),
        )
        return [(r[0], r[1], r[2]) for r in rows]
