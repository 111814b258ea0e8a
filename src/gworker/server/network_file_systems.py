"""Routes for a network file system's files (its lifecycle is the registry's).

A network file system is one directory on the server's disk (``C.nfs_dir``), bound read-write
into every container that mounts it: a write in one container is visible to all the others at
once, with no commit (unlike a Volume). These routes read and write the same directory from
outside: ``write`` (in chunks, replacing the file atomically when the last one arrives), ``read``
(by range), ``listdir`` (a directory, one file, or a glob) and ``remove``. Paths are relative
to its root; one that leaves the root, through ``..`` or a symlink a container made, is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gworker_client._protocol.objects import ObjectKind
from gworker_client._volume import path_problem

from .. import isolation
from ..constants import nfs_dir
from ..store.contract import StateStore
from . import registry
from .errors import InvalidRequest, NotFound
from .fields import request_token
from .http import body, reply

routes = web.RouteTableDef()
# Largest piece of a file one request carries either way.
CHUNK_BYTES = 8 * 1024 * 1024


def kind(home: Path) -> registry.Kind:
    """The registry's view of network file systems kept under ``home``: list rows count their
    files and bytes; deleting one removes its directory."""

    def describe(store: StateStore, nfs_id: str) -> dict[str, Any]:
        files = size = 0
        for dirpath, _, names in os.walk(nfs_dir(home, nfs_id)):
            for name in names:
                st = os.lstat(os.path.join(dirpath, name))
                files, size = files + 1, size + st.st_size
        return {"files": files, "bytes": size}

    def on_delete(app: web.Application, nfs_id: str) -> Callable[[], None]:
        def remove() -> None:
            shutil.rmtree(nfs_dir(home, nfs_id), ignore_errors=True)
            for partial in nfs_dir(home, ".uploads").glob(f"{nfs_id}-*"):  # unfinished writes
                partial.unlink(missing_ok=True)

        return remove

    return registry.Kind(ObjectKind.NFS, describe, on_delete)


def _root(request: web.Request, nfs_id: str) -> Path:
    root = nfs_dir(request.app["home"], nfs_id)
    root.mkdir(parents=True, exist_ok=True)
    return root


# -- paths -----------------------------------------------------------------------------------------


def _inside(root: Path, path: Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top + os.sep)


def _target(root: Path, req: dict[str, Any], *, allow_root: bool = False) -> Path:
    """``req["path"]`` under ``root``: checked like a volume path, and inside the root even
    through symlinks."""
    path = req.get("path")
    problem = path_problem(path, allow_root=allow_root)
    if problem:
        raise InvalidRequest(problem.replace("volume", "network file system"))
    assert isinstance(path, str)
    full = root / path if path else root
    if not _inside(root, full.parent if full != root else root):
        raise InvalidRequest(f"path {path!r} leaves the network file system (through a symlink)")
    return full


def _nfs(request: web.Request) -> tuple[Path, str]:
    found = registry.in_url(request, ObjectKind.NFS)
    return _root(request, found.id), found.label


# -- routes ----------------------------------------------------------------------------------------


@routes.post("/v1/nfs/{object_id}/write")
async def write(request: web.Request) -> web.Response:
    """One chunk of a file (``offset``); the last one (``last``) puts the file in place."""
    root, _ = _nfs(request)
    req = await body(request)
    target = _target(root, req)
    upload = request_token(req, "upload")
    data, offset = req.get("data"), req.get("offset", 0)
    if not isinstance(data, bytes) or len(data) > CHUNK_BYTES:
        raise InvalidRequest(f"data must be bytes, at most {CHUNK_BYTES} per request")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidRequest(f"offset {offset!r} must be a non-negative integer")
    partial = root.parent / ".uploads" / f"{root.name}-{upload}"
    partial.parent.mkdir(exist_ok=True)
    mode = "r+b" if partial.exists() else "wb"
    with open(partial, mode) as f:
        f.seek(offset)
        f.write(data)
    if not req.get("last"):
        return reply({"size": partial.stat().st_size})
    if target.is_dir() and not target.is_symlink():
        partial.unlink()
        raise InvalidRequest(f"{req['path']!r} is a directory")
    _make_parents(root, target.parent)
    if not _inside(root, target.parent):
        partial.unlink()
        raise InvalidRequest(f"path {req['path']!r} leaves the network file system")
    os.replace(partial, target)
    isolation.hand_over(target)  # containers may change what the server wrote
    return reply({"size": target.stat().st_size})


def _make_parents(root: Path, parent: Path) -> None:
    missing = []
    while not parent.exists() and parent != root:
        missing.append(parent)
        parent = parent.parent
    for d in reversed(missing):
        d.mkdir()
        isolation.hand_over(d)


@routes.post("/v1/nfs/{object_id}/read")
async def read(request: web.Request) -> web.Response:
    root, label = _nfs(request)
    req = await body(request)
    target = _target(root, req)
    offset, length = req.get("offset", 0), req.get("length", CHUNK_BYTES)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidRequest(f"offset {offset!r} must be a non-negative integer")
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"{label} has no file {req['path']!r}") from None
    except OSError as e:
        raise InvalidRequest(f"{req['path']!r} cannot be read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InvalidRequest(f"{req['path']!r} is not a file")
        size = os.fstat(f.fileno()).st_size
        f.seek(offset)
        data = f.read(max(0, min(int(length), CHUNK_BYTES)))
    return reply({"data": data, "size": size})


def _entry(root: Path, p: Path) -> list[Any]:
    st = p.lstat()
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
    return [p.relative_to(root).as_posix(), kind, st.st_size if kind == "file" else 0, st.st_mtime]


@routes.post("/v1/nfs/{object_id}/listdir")
async def listdir(request: web.Request) -> web.Response:
    """A directory's entries (``recursive``: everything below), a file's own entry, or what a
    glob (``*``, ``**``) matches; paths relative to the root."""
    root, label = _nfs(request)
    req = await body(request)
    pattern = req.get("path")
    if isinstance(pattern, str) and "*" in pattern:
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise InvalidRequest(f"glob {pattern!r} must be relative and stay inside")
        found = [p for p in sorted(root.glob(pattern)) if _inside(root, p.parent)]
        return reply({"entries": [_entry(root, p) for p in found]})
    target = _target(root, req, allow_root=True)
    if not target.exists() and not target.is_symlink():
        raise NotFound(f"{label} has nothing at {req['path']!r}")
    if not target.is_dir() or target.is_symlink():
        return reply({"entries": [_entry(root, target)]})
    walk = target.rglob("*") if req.get("recursive") else target.iterdir()
    return reply({"entries": [_entry(root, p) for p in sorted(walk)]})


@routes.post("/v1/nfs/{object_id}/remove")
async def remove(request: web.Request) -> web.Response:
    root, label = _nfs(request)
    req = await body(request)
    target = _target(root, req)
    if not target.exists() and not target.is_symlink():
        raise NotFound(f"{label} has nothing at {req['path']!r}")
    if target.is_dir() and not target.is_symlink():
        if not req.get("recursive"):
            raise InvalidRequest(
                f"{req['path']!r} is a directory: pass recursive=True to remove it and its files"
            )
        shutil.rmtree(target)
    else:
        target.unlink()
    return reply({})
