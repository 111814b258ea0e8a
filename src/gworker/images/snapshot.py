"""A running sandbox's filesystem as an image (``Sandbox.snapshot_filesystem``).

A sandbox's root is its image's read-only layers under overlayfs with a private tmpfs upper
(``overlay.Rootfs``), so what it changed is exactly that upper, already in the layer format
(``layers.py``: whiteouts as character devices 0:0, opaque directories marked with
``trusted.overlay.opaque=y``). ``capture`` copies the upper into a new layer and records an
image of the sandbox image's layers plus that one: the layers below are shared, not copied.

What is mounted over the root at start is not the sandbox's filesystem and is left out: ``/tmp``
(a private tmpfs), ``/proc``, ``/dev``, ``/opt/gworker`` (the runtime), the resolver files,
volumes and devices. Only the empty mount points bubblewrap made for them can be in the upper.
Files an image places at start (``add_local_*`` without ``copy=True``) are copied in from the
host trees that were bound, so the snapshot holds them as built files.

The upper is written by code nobody trusts, which may swap a file for a symlink while it is
copied: the walk holds directory descriptors (``os.fwalk``), every name is opened relative to one
without following symlinks, and only what that descriptor is (a regular file, say) is copied.
The sandbox may keep running: each file is copied as it is when it is read.

The layer is named by the digest of its tar form (``layertar.pack``), so the same changes make
the same layer, stored once; the image key covers the layers below, the new one and the config.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path, PurePosixPath

from . import layertar
from .built import BuiltImage
from .errors import BuildError
from .layers import ImageConfig, ImageRecord, LayerStore, remove_tree

SNAPSHOT = "snapshot"  # an image record's origin: made from a sandbox, not built from a spec
# Paths of a sandbox's root that are mounts, never its own files (``isolation.command``).
MOUNTED = ("/tmp", "/proc", "/dev", "/opt/gworker", "/etc/resolv.conf", "/etc/hosts")
_COPY_ATTRS = (*layertar.XATTR_PREFIXES, layertar.OPAQUE_XATTR)
_CHUNK = 1 << 20


class SnapshotCancelled(BuildError):
    """The snapshot was given up (its timeout passed); nothing of it is kept."""


def capture(
    store: LayerStore,
    upper: Path,
    base: ImageRecord,
    *,
    excluded: Iterable[str] = (),
    files: Mapping[str, Path] | None = None,
    source: str = "sandbox",
    cancelled: threading.Event | None = None,
    alive: Callable[[], bool] = lambda: True,
) -> ImageRecord:
    """Copy the overlay upper ``upper`` (less ``excluded`` container paths and ``MOUNTED``)
    plus the host trees of ``files`` (container path -> host path) into a new layer over
    ``base``'s; record and return the image. ``alive`` says whether the upper's owner still
    runs: one that ended during the copy may have left only part of it to read."""
    stop = cancelled or threading.Event()
    skip = {_rel(p) for p in (*MOUNTED, *excluded, *(files or {}))}
    tmp = store.root / "tmp" / f"snapshot-{uuid.uuid4().hex[:12]}"
    tmp.mkdir(mode=0o755)
    try:
        os.stat(upper)  # there at all (a walk of a missing tree is silently empty)
        _copy(upper, tmp, frozenset(skip), stop)
        if not alive():
            raise BuildError("it ended during its snapshot")
        for target, host in sorted((files or {}).items(), key=lambda kv: len(kv[0])):
            _place(tmp, _rel(target), host, stop)
        with open(os.devnull, "wb") as sink:
            digest = layertar.pack(tmp, sink).removeprefix("sha256:")
        if stop.is_set():
            raise SnapshotCancelled("the snapshot was cancelled")
        while digest in base.layers:  # overlayfs cannot stack one directory twice
            digest = hashlib.sha256(f"{digest}|again".encode()).hexdigest()
        store.commit(tmp, digest, f"{source} (filesystem snapshot)")
    finally:
        remove_tree(tmp)
    layers = (*base.layers, digest)
    text = json.dumps([SNAPSHOT, list(layers), asdict(base.config)], sort_keys=True)
    record = ImageRecord(hashlib.sha256(text.encode()).hexdigest(), layers, base.config, SNAPSHOT)
    store.save_image(record)
    return record


def config_of(image: BuiltImage) -> ImageConfig:
    """A snapshot's config: its image's, with the import path of placed sources kept."""
    extra = {"PYTHONPATH": ":".join(image.python_path)} if image.python_path else {}
    return ImageConfig(
        python=image.python,
        python_version=image.python_version,
        env={**extra, **image.env},
        workdir=image.workdir,
    )


def _rel(path: str) -> str:
    return str(PurePosixPath("/", path).relative_to("/"))


def _place(root: Path, rel: str, host: Path, stop: threading.Event) -> None:
    """Copy the host file or tree ``host`` to ``rel`` under ``root``. Directories on the way
    keep their times (one it makes gets time 0), so the same snapshot is the same layer."""
    times: list[tuple[Path, int]] = []
    cur = root
    for part in PurePosixPath(rel).parts:
        if cur != root:
            times.append((cur, os.lstat(cur).st_mtime_ns))
        cur = cur / part
        if cur == root / rel:
            break
        if not os.path.lexists(cur):
            os.mkdir(cur, 0o755)
            os.utime(cur, ns=(0, 0))
        elif not stat.S_ISDIR(os.lstat(cur).st_mode):
            raise BuildError(f"/{rel}: {part} is not a directory in the snapshot")
    if host.is_dir():
        if not os.path.lexists(cur):
            os.mkdir(cur, 0o755)
        _copy(host, cur, frozenset(), stop)
        _apply(cur, os.stat(host), {})
    else:
        _copy_one_file(host, cur)
    for path, mtime in reversed(times):
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)


def _copy(src: Path, dest: Path, skip: frozenset[str], stop: threading.Event) -> None:
    """Copy the tree ``src`` into the existing directory ``dest``, owners, modes, times, links,
    device nodes and the xattrs a layer keeps; ``skip``: paths relative to ``src``."""
    links: dict[tuple[int, int], Path] = {}
    dirs: list[tuple[Path, os.stat_result, dict[str, bytes]]] = []
    for dirpath, dirnames, filenames, dirfd in os.fwalk(
        src, follow_symlinks=False, onerror=_unless_gone
    ):
        if stop.is_set():
            raise SnapshotCancelled("the snapshot was cancelled")
        rel = PurePosixPath(dirpath).relative_to(src)
        dirnames[:] = [d for d in dirnames if str(rel / d) not in skip]
        here = dest / rel
        for name in (*dirnames, *filenames):
            if str(rel / name) in skip:
                continue
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we walked
            path = here / name
            attrs = _xattrs(dirfd, name, st)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(path, 0o700)
                dirs.append((path, st, attrs))
                continue
            if stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    os.link(links[key], path)
                    continue
                copied = _copy_file(dirfd, name, path)
                if copied is None:
                    continue  # no longer a regular file
                st = copied
                if st.st_nlink > 1:
                    links[key] = path
            elif stat.S_ISLNK(mode):
                try:
                    os.symlink(os.readlink(name, dir_fd=dirfd), path)
                except FileNotFoundError:
                    continue
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                os.mknod(path, stat.S_IFMT(mode) | 0o600, st.st_rdev)
            else:
                continue  # a socket: nothing an image can carry
            _apply(path, st, attrs)
        # a directory's own metadata only after its contents, or a read-only one blocks them
    for path, st, attrs in reversed(dirs):
        _apply(path, st, attrs)


def _unless_gone(error: OSError) -> None:
    """A directory removed while the walk reached it is skipped; any other error is raised."""
    if not isinstance(error, FileNotFoundError):
        raise error


def _copy_file(dirfd: int, name: str, dest: Path) -> os.stat_result | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
    except OSError:
        return None  # gone, or swapped for a symlink or a FIFO
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            while chunk := os.read(fd, _CHUNK):
                os.write(out, chunk)
        finally:
            os.close(out)
        return st
    finally:
        os.close(fd)


def _copy_one_file(host: Path, dest: Path) -> None:
    fd = os.open(host.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = _copy_file(fd, host.name, dest)
        if st is not None:
            _apply(dest, st, {})
    finally:
        os.close(fd)


def _xattrs(dirfd: int, name: str, st: os.stat_result) -> dict[str, bytes]:
    if stat.S_ISLNK(st.st_mode):
        return {}  # Linux keeps no user xattrs on links
    # a path through the directory's descriptor, its last component not followed
    where = f"/proc/self/fd/{dirfd}/{name}"
    try:
        names = os.listxattr(where, follow_symlinks=False)
        return {
            a: os.getxattr(where, a, follow_symlinks=False)
            for a in names
            if a.startswith(_COPY_ATTRS)
        }
    except OSError:
        return {}


def _apply(path: Path, st: os.stat_result, attrs: Mapping[str, bytes]) -> None:
    os.lchown(path, st.st_uid, st.st_gid)  # before chmod: chown clears setuid bits
    for attr, value in attrs.items():
        os.setxattr(path, attr, value, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
