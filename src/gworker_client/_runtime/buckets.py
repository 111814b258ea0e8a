"""Bucket mounts inside a container: download a bucket's objects into the mount directory at
start, then upload what each call created, changed or deleted there before its result goes out
(and once more on exit). A read-only mount's files are made read-only and nothing is uploaded.

The backend gives each mount an empty directory of the container's own (``GW_MOUNTS``, as for
volumes). Changes are found by comparing each file's size and modification time with what the
last sync saw.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .._protocol import BucketMount
from .s3 import Bucket, Credentials, S3Error

_mounts: list[MountedBucket] = []


class MountedBucket:
    def __init__(self, spec: BucketMount, where: Path) -> None:
        self.spec = spec
        self.dir = where
        self.bucket = Bucket(
            spec.bucket_name, spec.endpoint_url, Credentials.from_env(), spec.requester_pays
        )
        self.seen: dict[str, tuple[int, int]] = {}  # relative path -> (size, mtime_ns) synced
        self.lock = threading.Lock()

    def _key(self, rel: str) -> str:
        return self.spec.key_prefix + rel

    def download(self) -> None:
        prefix = self.spec.key_prefix
        for key, _ in self.bucket.list(prefix):
            rel = key[len(prefix) :]
            parts = rel.split("/")
            if not rel or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
                continue  # a directory marker, or a key that would leave the mount
            target = self.dir / rel
            if rel.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as f:
                self.bucket.get(key, f)
            st = target.stat()
            self.seen[rel] = (st.st_size, st.st_mtime_ns)
        if self.spec.read_only:
            for path in [self.dir, *self.dir.rglob("*")]:
                mode = path.stat().st_mode
                path.chmod(stat.S_IMODE(mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))

    def sync(self) -> None:
        """Upload new and changed files, delete the objects of removed ones."""
        if self.spec.read_only:
            return
        with self.lock:
            now: dict[str, tuple[int, int]] = {}
            for dirpath, _, names in os.walk(self.dir):
                for name in names:
                    path = os.path.join(dirpath, name)
                    st = os.lstat(path)
                    if stat.S_ISREG(st.st_mode):
                        now[os.path.relpath(path, self.dir)] = (st.st_size, st.st_mtime_ns)
            for rel, state in sorted(now.items()):
                if self.seen.get(rel) != state:
                    self.bucket.put(self._key(rel), str(self.dir / rel))
            for rel in sorted(set(self.seen) - set(now)):
                self.bucket.delete(self._key(rel))
            self.seen = now


def setup(mounts: Sequence[BucketMount]) -> None:
    """Fill every bucket mount (before user code is imported)."""
    if not mounts:
        return
    dirs = {m["path"]: m["dir"] for m in json.loads(os.environ.get("GW_MOUNTS") or "[]")}
    for spec in mounts:
        where = dirs.get(spec.mount_path)
        if where is None:
            raise RuntimeError(
                f"the backend gave this container no directory for bucket {spec.bucket_name!r}"
                f" at {spec.mount_path}; this backend cannot mount buckets"
            )
        mount = MountedBucket(spec, Path(where))
        try:
            mount.download()
        except S3Error as e:
            raise RuntimeError(f"bucket {spec.bucket_name!r} at {spec.mount_path}: {e}") from None
        _mounts.append(mount)


def mounted() -> bool:
    return bool(_mounts)


def sync_all() -> None:
    """Upload every mount's changes; a failure is printed (the call's result still goes out)."""
    for mount in _mounts:
        try:
            mount.sync()
        except (S3Error, OSError) as e:
            sys.stderr.write(
                f"gworker: uploading changes of bucket {mount.spec.bucket_name!r} at"
                f" {mount.spec.mount_path} failed: {e}\n"
            )
