"""Backing up and restoring a control plane's state under ``GW_HOME``.

A backup is a directory: ``state.db`` (a consistent snapshot taken with SQLite's online backup
API, so the server may keep running and writing), ``secrets.key`` (without it the secrets in
the snapshot cannot be decrypted), ``token.json`` (the local user's token), and the
content-addressed blobs (code bundles, large arguments and results, volume files). Blobs are
immutable and written before anything that refers to them is committed, so copying them after
the snapshot gives every blob the snapshot needs (and perhaps a few newer ones). A later backup
into the same directory copies only the blobs it lacks. Image caches are not backed up: images
are rebuilt from their specs.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

from gworker_client import exception as exc

from . import daemon

DB = "state.db"
FILES = ("secrets.key", "token.json")
BLOB_DIRS = ("blobs", "volumes/blobs")
MANIFEST = "backup.json"


def backup(home: Path, dest: Path) -> dict[str, int]:
    """Write a backup of ``home`` into ``dest``; return what it holds."""
    source_db = home / DB
    if not source_db.exists():
        raise exc.NotFoundError(f"no gworker state to back up: {source_db} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / (DB + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source_db}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(tmp)
        with out:
            src.backup(out)  # one step: a single read transaction, so one consistent snapshot
        problem = out.execute("PRAGMA integrity_check").fetchone()[0]
        out.close()
    finally:
        src.close()
    if problem != "ok":
        raise exc.Error(f"the snapshot of {source_db} failed its integrity check: {problem}")
    os.replace(tmp, dest / DB)
    for name in FILES:
        if (home / name).exists():
            shutil.copy2(home / name, dest / name)
    blobs = sum(_copy_blobs(home / d, dest / d) for d in BLOB_DIRS)
    summary = {"db_bytes": (dest / DB).stat().st_size, "blobs_copied": blobs}
    manifest = {"created_at": time.time(), "source": str(home), **summary}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return summary


def restore(backup_dir: Path, home: Path) -> Path | None:
    """Put a backup in place as ``home``'s state; the server must be stopped. The state it
    replaces is moved aside (returned), never deleted."""
    if not (backup_dir / DB).exists():
        raise exc.NotFoundError(f"{backup_dir} is not a gworker backup: it has no {DB}")
    if daemon.server_info(home) is not None:
        raise exc.InvalidError(
            f"the gworker server for GW_HOME={home} is running: stop it first (`gw server stop`)"
        )
    home.mkdir(parents=True, exist_ok=True)
    aside = None
    if (home / DB).exists():
        aside = home / f"before-restore-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.mkdir()
        for name in (DB, f"{DB}-wal", f"{DB}-shm", *FILES):
            if (home / name).exists():
                os.replace(home / name, aside / name)
    for name in (DB, *FILES):
        if (backup_dir / name).exists():
            shutil.copy2(backup_dir / name, home / name)
    if (home / "secrets.key").exists():
        os.chmod(home / "secrets.key", 0o600)
    if (home / "token.json").exists():
        os.chmod(home / "token.json", 0o600)
    for d in BLOB_DIRS:
        _copy_blobs(backup_dir / d, home / d)
    return aside


def _copy_blobs(src: Path, dest: Path) -> int:
    """Copy the blobs ``dest`` lacks (a blob's name is its content's hash); return how many."""
    if not src.is_dir():
        return 0
    copied = 0
    for path in src.rglob("*"):
        if not path.is_file() or path.name.endswith(".tmp"):
            continue
        target = dest / path.relative_to(src)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copy2(path, partial)
        os.replace(partial, target)
        copied += 1
    return copied
