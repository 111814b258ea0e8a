"""Tokens with a user and a role, their revocation, and the audit log of mutating requests and
of requests refused for their token or role."""

from __future__ import annotations

import sqlite3
import time
from typing import NamedTuple

ROLES = ("viewer", "developer", "admin")  # each may do what the ones before it may

SCHEMA_IDENTITIES = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, who TEXT NOT NULL,
    role TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL
);
"""
# columns added to an audit table made before refusals were recorded
AUDIT_COLUMNS = {
    "token_id": "TEXT NOT NULL DEFAULT ''",  # the token presented (its id, never its secret)
    "remote": "TEXT NOT NULL DEFAULT ''",  # the address the request came from
}
# statuses of requests refused for their token, role or scope; 429 marks the entry that counts
# the refusals left out when too many came (server/audit.py)
REFUSED = (401, 403)
LEFT_OUT = 429
_REFUSED_SQL = f"status IN ({', '.join(str(s) for s in (*REFUSED, LEFT_OUT))})"
# columns added to the tokens table of a store made before tokens had users and roles: such
# a token was its server's only kind of user, so it stays an admin
TOKEN_COLUMNS = {
    "user": "TEXT NOT NULL DEFAULT 'local'",
    "role": "TEXT NOT NULL DEFAULT 'admin'",
    "revoked_at": "REAL",
}


class Token(NamedTuple):
    secret_hash: str
    user: str
    role: str
    created_at: float
    revoked: bool


class AuditRow(NamedTuple):
    seq: int
    ts: float
    who: str
    role: str
    method: str
    path: str
    status: int
    token_id: str = ""
    remote: str = ""


class IdentityStore:
    db: sqlite3.Connection

    def _migrate_identities(self) -> None:
        have = {row[1] for row in self.db.execute("PRAGMA table_info(tokens)")}
        for column, decl in TOKEN_COLUMNS.items():
            if column not in have:
                self.db.execute(f"ALTER TABLE tokens ADD COLUMN {column} {decl}")
        self.db.executescript(SCHEMA_IDENTITIES)
        have = {row[1] for row in self.db.execute("PRAGMA table_info(audit)")}
        for column, decl in AUDIT_COLUMNS.items():
            if column not in have:
                self.db.execute(f"ALTER TABLE audit ADD COLUMN {column} {decl}")
        self.db.execute(
            f"CREATE INDEX IF NOT EXISTS audit_refused ON audit (seq) WHERE {_REFUSED_SQL}"
        )

    def add_token(
        self, token_id: str, secret_hash: str, user: str = "local", role: str = "admin"
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {ROLES}")
        self.db.execute(
            "INSERT INTO tokens (id, secret_hash, created_at, user, role) VALUES (?, ?, ?, ?, ?)",
            (token_id, secret_hash, time.time(), user, role),
        )

    def tokens(self) -> dict[str, Token]:
        rows = self.db.execute(
            "SELECT id, secret_hash, user, role, created_at, revoked_at IS NOT NULL FROM tokens"
        )
        return {r[0]: Token(r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token; False when no such token is active."""
        cur = self.db.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (time.time(), token_id),
        )
        return cur.rowcount > 0

    def add_audit(
        self,
        who: str,
        role: str,
        method: str,
        path: str,
        status: int,
        token_id: str = "",
        remote: str = "",
    ) -> None:
        self.db.execute(
            "INSERT INTO audit (ts, who, role, method, path, status, token_id, remote)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), who, role, method, path, status, token_id, remote),
        )

    def prune_audit(self, keep: int, keep_refused: int | None = None) -> None:
        """Drop all but the newest ``keep`` entries, and of refusals all but the newest
        ``keep_refused``."""
        self.db.execute("DELETE FROM audit WHERE seq <= (SELECT MAX(seq) FROM audit) - ?", (keep,))
        if keep_refused is not None:
            self.db.execute(
                f"DELETE FROM audit WHERE {_REFUSED_SQL} AND seq <= (SELECT seq FROM audit"
                f" WHERE {_REFUSED_SQL} ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (keep_refused,),
            )

    def audit(self, after: int = 0, limit: int = 1000, refused: bool = False) -> list[AuditRow]:
        """Entries after ``after``, oldest first; with ``refused``, only refusals (401, 403)."""
        where = f" AND {_REFUSED_SQL}" if refused else ""
        rows = self.db.execute(
            "SELECT seq, ts, who, role, method, path, status, token_id, remote FROM audit"
            f" WHERE seq > ?{where} ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [AuditRow(*r) for r in rows]
