"""Routes for a network file system's files (its lifecycle is the registry's).

A network file system is one directory on the server's disk (``C.nfs_dir``), bound read-write
into every container that mounts it: a write in one container is visible to all the others at
once, with no commit (unlike a Volume). These routes read and write the same directory from
outside: ``write`` (in chunks, replacing the file atomically when the last one arrives), ``read``
(by range), ``listdir`` (a directory, one file, or a glob) and ``remove``. Paths are relative
to its root; one that leaves the root, through ``..`` or a symlink a container made, is refused:
``nfs_tree`` reaches every file through fds, never following a symlink, since containers can
change the directory while a request runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gworker_client._protocol.objects import ObjectKind
from gworker_client._volume import path_problem

from ..constants import nfs_dir
from ..store.contract import StateStore
from . import registry
from .errors import InvalidRequest
from .fields import request_token
from .http import body, reply
from .nfs_tree import Tree

routes = web.RouteTableDef()
# Largest piece of a file one request carries either way.
CHUNK_BYTES = 8 * 1024 * 1024
# An unfinished write nobody has added to for this long is dropped.
ABANDONED_UPLOAD_S = 24 * 3600


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


def _path(req: dict[str, Any], *, allow_root: bool = False) -> str:
    """``req["path"]``, checked like a volume path (relative, normalized, no ``..``)."""
    path = req.get("path")
    problem = path_problem(path, allow_root=allow_root)
    if problem:
        raise InvalidRequest(problem.replace("volume", "network file system"))
    assert isinstance(path, str)
    return path


def _nfs(request: web.Request) -> tuple[Path, Tree]:
    found = registry.in_url(request, ObjectKind.NFS)
    root = _root(request, found.id)
    return root, Tree(root, found.label)


def _size(req: dict[str, Any], field: str, default: int) -> int:
    value = req.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(f"{field}={value!r} must be a non-negative integer")
    return value


# -- uploads ---------------------------------------------------------------------------------------


def _uploads(root: Path) -> int:
    """An fd of the folder of unfinished writes, beside the file systems' roots: no container
    mounts it, so what is in it cannot be swapped."""
    where = root.parent / ".uploads"
    where.mkdir(exist_ok=True)
    return os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def _sweep(uploads_fd: int) -> None:
    """Drop unfinished writes nobody has added to for a day (a client that went away)."""
    stale = time.time() - ABANDONED_UPLOAD_S
    with os.scandir(uploads_fd) as it:
        for e in it:
            if e.stat(follow_symlinks=False).st_mtime < stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.name, dir_fd=uploads_fd)


# -- routes ----------------------------------------------------------------------------------------


@routes.post("/v1/nfs/{object_id}/write")
async def write(request: web.Request) -> web.Response:
    """One chunk of a file (``offset``); the last one (``last``) puts the file in place."""
    root, tree = _nfs(request)
    req = await body(request)
    path = _path(req)
    upload = request_token(req, "upload")
    data, offset = req.get("data"), _size(req, "offset", 0)
    if not isinstance(data, bytes) or len(data) > CHUNK_BYTES:
        raise InvalidRequest(f"data must be bytes, at most {CHUNK_BYTES} per request")
    partial = f"{root.name}-{upload}"
    uploads = _uploads(root)
    try:
        if offset == 0:
            _sweep(uploads)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(partial, flags, 0o644, dir_fd=uploads)
        try:
            os.pwrite(fd, data, offset)
            size = os.fstat(fd).st_size
            if req.get("last"):
                try:
                    tree.place(path, fd, uploads, partial)
                except Exception:
                    os.unlink(partial, dir_fd=uploads)
                    raise
        finally:
            os.close(fd)
    finally:
        os.close(uploads)
    return reply({"size": size})


@routes.post("/v1/nfs/{object_id}/read")
async def read(request: web.Request) -> web.Response:
    _, tree = _nfs(request)
    req = await body(request)
    path = _path(req)
    offset, length = _size(req, "offset", 0), _size(req, "length", CHUNK_BYTES)
    data, size = tree.read(path, offset, min(length, CHUNK_BYTES))
    return reply({"data": data, "size": size})


@routes.post("/v1/nfs/{object_id}/listdir")
async def listdir(request: web.Request) -> web.Response:
    """A directory's entries (``recursive``: everything below), a file's own entry, or what a
    glob (``*``, ``**``) matches; paths relative to the root."""
    _, tree = _nfs(request)
    req = await body(request)
    pattern = req.get("path")
    if isinstance(pattern, str) and "*" in pattern:
        if pattern.startswith("/") or ".." in pattern.split("/") or "\0" in pattern:
            raise InvalidRequest(f"glob {pattern!r} must be relative and stay inside")
        return reply({"entries": tree.glob(pattern)})
    path = _path(req, allow_root=True)
    return reply({"entries": tree.entries(path, recursive=bool(req.get("recursive")))})


@routes.post("/v1/nfs/{object_id}/remove")
async def remove(request: web.Request) -> web.Response:
    _, tree = _nfs(request)
    req = await body(request)
    tree.remove(_path(req), recursive=bool(req.get("recursive")))
    return reply({})
