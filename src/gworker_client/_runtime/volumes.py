"""Volumes inside a container: fill each mount at start, then commit, reload, and commit on
graceful exit.

The backend gives the container one empty directory per mounted volume and says where it is in
``GW_MOUNTS``: ``[{"path": "/data", "dir": "...", "volume_id": "vo-..."}]``. ``dir`` is the mount
path itself when the container is isolated (bubblewrap binds the backend's directory there), and
the backend's directory on the host when it is not; ``host_path()`` maps one to the other for code
that must run both ways.

Each mount remembers the files it last synced with the server (``base``: path -> sha256, size,
mode, mtime), so a commit sends only what changed since, and the server merges it into the newest
version (see ``Volume``'s docstring for the concurrency rules).
"""

from __future__ import annotations

import json
import os
import shutil
import stat as stat_mod
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .. import _api
from .._protocol import VolumeMount
from .._volume import Source, commit_changes, download_files, file_digest, path_problem
from ..exception import InvalidError, NotFoundError

Entry = tuple[str, int, int, float]  # sha256, size, mode, mtime
SYNC_ATTEMPTS = 3

_mounts: dict[str, MountedVolume] = {}  # mount path -> its mount
_active = False


def in_container() -> bool:
    """Whether this process is a gworker container (its runtime set up its volumes)."""
    return _active


def mounts_of(volume_id: str) -> list[MountedVolume]:
    return [m for m in _mounts.values() if m.volume_id == volume_id]


def host_path(path: str) -> str:
    """Where ``path`` (under a volume's mount path) is in this container's filesystem: itself
    when the container is isolated, the backend's directory for the mount when not."""
    for mount_path, m in _mounts.items():
        if path == mount_path or path.startswith(mount_path.rstrip("/") + "/"):
            return str(m.dir) + path[len(mount_path.rstrip("/")) :]
    return path


def setup(client: _api.Client, mounts: Sequence[VolumeMount]) -> None:
    """Fill every mount with its volume's committed files (before user code is imported)."""
    global _active
    _active = True
    if not mounts:
        return
    dirs = {m["path"]: m["dir"] for m in json.loads(os.environ.get("GW_MOUNTS") or "[]")}
    for m in mounts:
        where = dirs.get(m.mount_path)
        if where is None:
            raise RuntimeError(
                f"the backend gave this container no directory for volume"
                f" {m.name or m.volume_id!r} at {m.mount_path} (GW_MOUNTS has"
                f" {sorted(dirs)}); this backend cannot mount volumes"
            )
        mount = MountedVolume(client, m.mount_path, Path(where), m.volume_id, m.name)
        mount.materialize()
        _mounts[m.mount_path] = mount


def commit_on_exit() -> None:
    """Commit what each mount has left uncommitted (the container is stopping gracefully)."""
    for mount in _mounts.values():
        try:
            mount.commit()
        except Exception as e:
            sys.stderr.write(f"gworker: committing volume at {mount.path} on exit failed: {e}\n")


class MountedVolume:
    def __init__(
        self, client: _api.Client, path: str, where: Path, volume_id: str, name: str | None
    ) -> None:
        self.client = client
        self.path = path
        self.dir = where
        self.volume_id = volume_id
        self.name = name
        self.version = 0
        self.base: dict[str, Entry] = {}
        # (st_size, st_mtime_ns) of files known to equal ``base``: the rest get hashed at commit
        self.seen: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<volume {self.name or self.volume_id!r} at {self.path}>"

    # -- from the server -------------------------------------------------------------------------

    def _manifest(self) -> tuple[int, dict[str, Entry]]:
        resp = self.client.get(f"/v1/volumes/{self.volume_id}/manifest", timeout=600)
        files = {
            p: (sha, int(size), int(mode), float(mtime))
            for p, sha, size, mode, mtime in resp["files"]
        }
        return int(resp["version"]), files

    def materialize(self) -> None:
        with self.lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._sync()

    def reload(self) -> None:
        """Bring in others' commits: files they changed replace this container's copies (its
        uncommitted edits of those files are lost); its other uncommitted edits stay."""
        with self.lock:
            self._sync()

    def _sync(self) -> None:
        """Make the files of ``base`` match the newest version's."""
        for attempt in range(SYNC_ATTEMPTS):
            version, newest = self._manifest()
            changed = {p: e for p, e in newest.items() if self.base.get(p) != e}
            try:
                self._write(changed)
            except NotFoundError:  # a commit replaced a file between manifest and download
                if attempt == SYNC_ATTEMPTS - 1:
                    raise
                continue
            for p in self.base:
                if p not in newest:
                    self._remove(p)
            self.base, self.version = newest, version
            return

    def _write(self, files: dict[str, Entry]) -> None:
        for p in files:
            self._make_room(p)
        download_files(
            self.client,
            self.volume_id,
            [(self.dir / p, sha, size) for p, (sha, size, _, _) in files.items()],
        )
        for p, (_, _, mode, mtime) in files.items():
            target = self.dir / p
            os.chmod(target, mode)
            os.utime(target, (mtime, mtime))
            st = target.stat()
            self.seen[p] = (st.st_size, st.st_mtime_ns)

    def _make_room(self, rel: str) -> None:
        """Clear what stands where the file ``rel`` goes: a directory there, a file above it."""
        target = self.dir / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        for parent in Path(rel).parents:
            above = self.dir / parent
            if above != self.dir and (above.is_file() or above.is_symlink()):
                above.unlink()

    def _remove(self, rel: str) -> None:
        target = self.dir / rel
        if target.is_file() or target.is_symlink():
            target.unlink()
        self.seen.pop(rel, None)
        parent = target.parent
        while parent != self.dir:
            try:
                parent.rmdir()  # only if empty
            except OSError:
                break
            parent = parent.parent

    # -- to the server ---------------------------------------------------------------------------

    def commit(self) -> None:
        with self.lock:
            current = self._scan()
            changes: list[tuple[str, Source, int, float]] = []
            snapshot: dict[str, Entry] = {}
            for rel, (full, st) in current.items():
                mode = stat_mod.S_IMODE(st.st_mode)
                known = self.base.get(rel)
                if known and self.seen.get(rel) == (st.st_size, st.st_mtime_ns):
                    snapshot[rel] = known
                    continue
                sha, size = file_digest(full)
                if known and known[0] == sha and known[2] == mode:
                    snapshot[rel] = known
                else:
                    snapshot[rel] = (sha, size, mode, st.st_mtime)
                    changes.append((rel, Source(sha, size, path=str(full)), mode, st.st_mtime))
                self.seen[rel] = (st.st_size, st.st_mtime_ns)
            deletions = [p for p in self.base if p not in current]
            if not changes and not deletions:
                return
            self.version = commit_changes(self.client, self.volume_id, changes, deletions)
            self.base = snapshot
            for p in deletions:
                self.seen.pop(p, None)

    def _scan(self) -> dict[str, tuple[str, os.stat_result]]:
        """The mount's files: relative path -> (path to read, stat). Symlinks to files inside
        the mount count as those files; any symlink out of it is refused."""
        root = os.path.realpath(self.dir)
        found: dict[str, tuple[str, os.stat_result]] = {}
        for dirpath, dirnames, filenames in os.walk(self.dir):
            for name in [*dirnames, *filenames]:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, self.dir).replace(os.sep, "/")
                shown = f"{self.path.rstrip('/')}/{rel}"
                if os.path.islink(full):
                    target = os.path.realpath(full)
                    if target != root and not target.startswith(root + os.sep):
                        raise InvalidError(
                            f"{shown} is a symlink to {os.readlink(full)}, outside the volume"
                            f" mounted at {self.path}: a volume cannot store links out of it"
                        )
                    if os.path.isdir(target):
                        raise InvalidError(
                            f"{shown} is a symlink to a directory; volumes store files only"
                        )
                    if not os.path.exists(target):
                        continue  # a dangling link inside the volume: nothing to store
                if name in dirnames or _is_partial(name):
                    continue
                st = os.stat(full)
                if not stat_mod.S_ISREG(st.st_mode):
                    continue
                problem = path_problem(rel)
                if problem:
                    raise InvalidError(f"{shown}: {problem}")
                found[rel] = (full, st)
        return found


def _is_partial(name: str) -> bool:
    """A download in progress (``_volume._write_atomic``'s temporary file)."""
    return name.startswith(".") and ".gw-" in name and name.endswith(".part")
