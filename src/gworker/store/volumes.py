"""SQL for volumes: a mixin over ``Store``'s connection (``self.db``).

A volume is a registry entry (``store/registry.py``) with a version number (``volume_versions``,
0 until its first commit) and its manifest: the rows of ``volume_files`` (path -> sha256, size,
mode, mtime, and the version that last wrote the path). Only the newest version's manifest is
kept: every commit merges its changes into it and bumps the version. File contents are blobs
named by their sha256 (``server/volumes.py``), so identical content is stored once across all
volumes; a blob no row refers to any more is deleted.

Paths are relative, ``/``-separated and normalized (checked by the routes). The manifest always
describes a tree that can exist on disk: writing a file at ``a/b`` removes a file at ``a`` and
writing ``a`` removes everything under ``a/`` (the later commit wins).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence

from gworker_client._protocol.objects import ObjectKind

from .registry import RegistryStore

SCHEMA_VOLUMES = """
CREATE TABLE IF NOT EXISTS volume_versions (
    volume_id TEXT PRIMARY KEY, version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS volume_files (
    volume_id TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    mode INTEGER NOT NULL, mtime REAL NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (volume_id, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS volume_files_sha ON volume_files (sha256, volume_id);
CREATE TABLE IF NOT EXISTS volume_commits (
    id TEXT PRIMARY KEY, volume_id TEXT NOT NULL, version INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""
CONTENTS = {
    ObjectKind.VOLUME: (
        ("volume_files", "volume_id"),
        ("volume_commits", "volume_id"),
        ("volume_versions", "volume_id"),
    )
}

# (path, sha256, size, mode, mtime)
FileRow = tuple[str, str, int, int, float]


def _below(path: str) -> tuple[str, str]:
    """The key range of the paths under directory ``path`` ('' is the root): ``'a/'`` up to
    ``'a0'`` (``'0'`` follows ``'/'``)."""
    return (path + "/", path + "0") if path else ("", "\U0010ffff")


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class VolumeStore(RegistryStore):
    """Volume storage; ``Store`` inherits it and runs ``SCHEMA_VOLUMES``."""

    db: sqlite3.Connection

    def volume_version(self, vid: str) -> int:
        row = self.db.execute(
            "SELECT version FROM volume_versions WHERE volume_id = ?", (vid,)
        ).fetchone()
        return int(row[0]) if row else 0

    def volume_usage(self, vid: str) -> tuple[int, int]:
        """How many files the volume holds and how many bytes they add up to."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM volume_files WHERE volume_id = ?",
            (vid,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def volume_shas(self, vid: str) -> set[str]:
        """The blobs the volume's files use."""
        rows = self.db.execute("SELECT sha256 FROM volume_files WHERE volume_id = ?", (vid,))
        return {r[0] for r in rows}

    # -- reading ---------------------------------------------------------------------------------

    def volume_manifest(self, vid: str) -> list[FileRow]:
        return self.db.execute(
            "SELECT path, sha256, size, mode, mtime FROM volume_files WHERE volume_id = ?"
            " ORDER BY path",
            (vid,),
        ).fetchall()

    def volume_file(self, vid: str, path: str) -> FileRow | None:
        row = self.db.execute(
            "SELECT path, sha256, size, mode, mtime FROM volume_files"
            " WHERE volume_id = ? AND path = ?",
            (vid, path),
        ).fetchone()
        return tuple(row) if row else None  # type: ignore[return-value]

    def volume_is_dir(self, vid: str, path: str) -> bool:
        low, high = _below(path)
        row = self.db.execute(
            "SELECT 1 FROM volume_files WHERE volume_id = ? AND path >= ? AND path < ? LIMIT 1",
            (vid, low, high),
        ).fetchone()
        return row is not None

    def volume_listdir(
        self, vid: str, path: str, recursive: bool
    ) -> list[tuple[str, str, int, float]] | None:
        """``(path, "file"|"dir", size, mtime)`` under ``path``, or the file ``path`` itself;
        None if there is nothing at ``path``."""
        if path:
            row = self.volume_file(vid, path)
            if row:
                return [(row[0], "file", row[2], row[4])]
        low, high = _below(path)
        rows = self.db.execute(
            "SELECT path, size, mtime FROM volume_files WHERE volume_id = ? AND path >= ?"
            " AND path < ? ORDER BY path",
            (vid, low, high),
        ).fetchall()
        if not rows and path:
            return None
        files: list[tuple[str, str, int, float]] = []
        dirs: dict[str, float] = {}
        for p, size, mtime in rows:
            rel = p[len(low) :]
            parts = rel.split("/")
            if recursive:
                files.append((p, "file", size, mtime))
                for i in range(1, len(parts)):
                    d = low + "/".join(parts[:i])
                    dirs[d] = max(dirs.get(d, 0.0), mtime)
            elif len(parts) == 1:
                files.append((p, "file", size, mtime))
            else:
                d = low + parts[0]
                dirs[d] = max(dirs.get(d, 0.0), mtime)
        entries = files + [(d, "dir", 0, m) for d, m in dirs.items()]
        return sorted(entries)

    def volume_conflicts(self, vid: str, paths: Iterable[str]) -> list[str]:
        """Which of ``paths`` are taken: a file or a directory is there, or a file above."""
        taken = []
        for p in paths:
            if (
                self.volume_file(vid, p)
                or self.volume_is_dir(vid, p)
                or any(self.volume_file(vid, a) for a in _ancestors(p))
            ):
                taken.append(p)
        return taken

    def sha_in_volume(self, vid: str, sha: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM volume_files WHERE sha256 = ? AND volume_id = ? LIMIT 1", (sha, vid)
        ).fetchone()
        return row is not None

    def sha_referenced(self, sha: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM volume_files WHERE sha256 = ? LIMIT 1", (sha,)
        ).fetchone()
        return row is not None

    # -- writing ---------------------------------------------------------------------------------

    def volume_commit_version(self, commit_id: str) -> int | None:
        """The version a commit with this id made, if it was applied (its client retries)."""
        row = self.db.execute(
            "SELECT version FROM volume_commits WHERE id = ?", (commit_id,)
        ).fetchone()
        return int(row[0]) if row else None

    def volume_apply(
        self,
        vid: str,
        commit_id: str,
        changes: Sequence[FileRow],
        deletions: Iterable[str],
        removed_trees: Iterable[str] = (),
    ) -> tuple[int, set[str]]:
        """Merge a commit into the newest version: delete ``deletions`` (files) and everything
        under ``removed_trees``, then write ``changes``. Return the new version and the blobs
        that lost a use."""
        version = self.volume_version(vid) + 1
        released: set[str] = set()
        for p in deletions:
            released |= self._delete_file(vid, p)
        for p in removed_trees:
            released |= self._delete_file(vid, p) | self._delete_tree(vid, p)
        for p, sha, size, mode, mtime in changes:
            released |= self._delete_tree(vid, p)
            for a in _ancestors(p):
                released |= self._delete_file(vid, a)
            released |= self._delete_file(vid, p)
            self.db.execute(
                "INSERT INTO volume_files (volume_id, path, sha256, size, mode, mtime, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (vid, p, sha, size, mode, mtime, version),
            )
        self.db.execute(
            "INSERT INTO volume_versions (volume_id, version) VALUES (?, ?)"
            " ON CONFLICT (volume_id) DO UPDATE SET version = excluded.version",
            (vid, version),
        )
        self.touch_object(vid)
        self.db.execute(
            "INSERT INTO volume_commits (id, volume_id, version, created_at) VALUES (?, ?, ?, ?)",
            (commit_id, vid, version, time.time()),
        )
        return version, released

    def _delete_file(self, vid: str, path: str) -> set[str]:
        row = self.db.execute(
            "DELETE FROM volume_files WHERE volume_id = ? AND path = ? RETURNING sha256",
            (vid, path),
        ).fetchall()
        return {r[0] for r in row}

    def _delete_tree(self, vid: str, path: str) -> set[str]:
        low, high = _below(path)
        rows = self.db.execute(
            "DELETE FROM volume_files WHERE volume_id = ? AND path >= ? AND path < ?"
            " RETURNING sha256",
            (vid, low, high),
        ).fetchall()
        return {r[0] for r in rows}

    def unreferenced(self, shas: Iterable[str]) -> list[str]:
        return [s for s in shas if not self.sha_referenced(s)]

    def prune_volume_commits(self, older_than: float) -> None:
        """Forget commit ids (kept only so that a retried commit is applied once)."""
        self.db.execute("DELETE FROM volume_commits WHERE created_at < ?", (older_than,))
