"""Routes for a volume's files: the manifest, listings, blobs in and out in pieces, and commits
merged into the newest version. A volume's lifecycle is the registry's (``server/registry.py``);
``KIND`` adds file counts to its list and deletes the blobs a deleted volume leaves unused.

File contents are blobs named by their sha256 under ``GW_HOME/volumes/blobs`` (``VolumeBlobs``, a
``BlobStore``), kept apart from code bundles so that a blob no volume refers to any more can be
deleted. A large blob arrives in chunks appended to ``GW_HOME/volumes/uploads/<id>.part`` and is
checked against its digest before it becomes visible; reads are by range. No request or response
holds more than about ``CHUNK_BYTES`` of file content.

Commits carry client-chosen ids so that a retried one is applied once. A commit whose blobs are
not all present is not applied: the answer lists the missing ones (a concurrent commit may have
released the last use of one between the client's upload and its commit) and the client uploads
them and tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gworker_client._protocol.limits import MAX_INT
from gworker_client._protocol.objects import ObjectKind
from gworker_client._volume import CHUNK_BYTES, path_problem

from . import registry
from .blobs import BlobStore
from .errors import Conflict, InvalidRequest, NotFound
from .http import body, reply

if TYPE_CHECKING:
    from ..store.contract import StateStore
    from .state import State

routes = web.RouteTableDef()
_DIGEST = re.compile(r"[0-9a-f]{64}")
_TOKEN = re.compile(r"[0-9a-f]{32}")
# A batch of whole blobs (blobs/put, blobs/get) carries at most about this much.
MAX_BATCH_BYTES = 2 * CHUNK_BYTES
# Partial uploads untouched for this long are abandoned; commit ids are kept this long.
STALE_S = 24 * 3600.0


class VolumeBlobs(BlobStore):
    """Volume file contents by sha256, with chunked uploads, ranged reads and deletion."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "blobs")
        self.uploads = root / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self._hashing: dict[str, tuple[int, Any]] = {}  # upload id -> (bytes hashed, sha256)
        now = time.time()
        for part in self.uploads.glob("*.part"):
            if now - part.stat().st_mtime > STALE_S:
                part.unlink(missing_ok=True)

    def size(self, digest: str) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, digest: str, offset: int, length: int) -> bytes:
        try:
            with open(self.path(digest), "rb") as f:
                f.seek(offset)
                return f.read(length)
        except FileNotFoundError:
            raise NotFound(f"volume blob {digest} does not exist") from None

    async def append(
        self, upload_id: str, digest: str, offset: int, data: bytes, final: bool
    ) -> None:
        """Add a chunk at ``offset`` to an upload; on the final chunk, check the whole against
        ``digest`` and publish it. A repeated chunk (the client retried) is accepted once."""
        target = self.path(digest)
        part = self.uploads / f"{upload_id}.part"
        if final and target.exists():  # done already (by this upload's first try, or another)
            part.unlink(missing_ok=True)
            self._hashing.pop(upload_id, None)
            return
        size = part.stat().st_size if part.exists() else 0
        if offset == size:
            with open(part, "ab") as f:
                f.write(data)
            hashed, h = self._hashing.get(upload_id, (0, hashlib.sha256()))
            if hashed == offset:
                h.update(data)
                self._hashing[upload_id] = (offset + len(data), h)
        elif offset + len(data) != size:
            raise InvalidRequest(
                f"upload {upload_id} has {size} bytes; a chunk at {offset} is out of order"
            )
        if not final:
            return
        hashed, h = self._hashing.pop(upload_id, (-1, None))
        total = part.stat().st_size
        actual = h.hexdigest() if hashed == total else await asyncio.to_thread(_digest, part)
        if actual != digest:
            part.unlink(missing_ok=True)
            raise InvalidRequest(f"uploaded content hashes to {actual}, not {digest}")
        target.parent.mkdir(exist_ok=True)
        os.replace(part, target)

    def remove(self, digests: list[str]) -> None:
        for digest in digests:
            self.path(digest).unlink(missing_ok=True)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


_blob_stores: dict[Path, VolumeBlobs] = {}


def volume_blobs(app: web.Application) -> VolumeBlobs:
    home: Path = app["home"]
    if home not in _blob_stores:
        _blob_stores[home] = VolumeBlobs(home / "volumes")
    return _blob_stores[home]


# -- request checks --------------------------------------------------------------------------------


def _token(req: dict[str, Any], field: str) -> str:
    value = req.get(field)
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise InvalidRequest(f"{field}={value!r} must be 32 hex digits")
    return value


def _digest_field(value: Any) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise InvalidRequest(f"{value!r} is not a sha256 hex digest")
    return value


def _path(value: Any, *, allow_root: bool = False) -> str:
    problem = path_problem(value, allow_root=allow_root)
    if problem:
        raise InvalidRequest(problem)
    return value  # type: ignore[no-any-return]


def _int(req: dict[str, Any], field: str, low: int, high: int) -> int:
    value = req.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{field}={value!r} must be an integer from {low} to {high}")
    return value


def _volume(request: web.Request) -> tuple[State, str, str]:
    """The state, the volume id in the URL (which must exist) and how messages name it."""
    volume = registry.in_url(request, ObjectKind.VOLUME)
    return request.app["state"], volume.id, volume.label


def _changes(req: dict[str, Any]) -> list[tuple[str, str, int, int, float]]:
    changes = req.get("changes") or []
    if not isinstance(changes, list):
        raise InvalidRequest("changes must be a list of [path, sha256, size, mode, mtime]")
    rows = []
    for c in changes:
        if not isinstance(c, list) or len(c) != 5:
            raise InvalidRequest("each change must be [path, sha256, size, mode, mtime]")
        path, sha, size, mode, mtime = c
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_INT:
            raise InvalidRequest(f"size {size!r} of {path!r} must be a non-negative integer")
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise InvalidRequest(f"mode {mode!r} of {path!r} must be permission bits")
        if isinstance(mtime, bool) or not isinstance(mtime, (int, float)) or not _finite(mtime):
            raise InvalidRequest(f"mtime {mtime!r} of {path!r} must be a number")
        rows.append((_path(path), _digest_field(sha), size, mode, float(mtime)))
    return rows


def _finite(value: float) -> bool:
    return math.isfinite(value) and abs(value) < 2**62  # a time SQLite and os.utime can hold


def _released(state: State, app: web.Application, shas: set[str]) -> None:
    """Delete the blobs no volume uses any more (after the store committed)."""
    volume_blobs(app).remove(state.store.unreferenced(shas))


def _describe(store: StateStore, vid: str) -> dict[str, Any]:
    files, size = store.volume_usage(vid)
    return {"version": store.volume_version(vid), "files": files, "bytes": size}


def _on_delete(app: web.Application, vid: str) -> Callable[[], None]:
    state: State = app["state"]
    shas = state.store.volume_shas(vid)
    return lambda: _released(state, app, shas)


KIND = registry.Kind(ObjectKind.VOLUME, _describe, _on_delete)


# -- reading ---------------------------------------------------------------------------------------


@routes.get("/v1/volumes/{object_id}/manifest")
async def manifest(request: web.Request) -> web.Response:
    """The newest version: its number and every file as [path, sha256, size, mode, mtime]."""
    state, vid, label = _volume(request)
    files = [list(r) for r in state.store.volume_manifest(vid)]
    return reply({"version": state.store.volume_version(vid), "files": files})


@routes.post("/v1/volumes/{object_id}/listdir")
async def listdir(request: web.Request) -> web.Response:
    state, vid, label = _volume(request)
    req = await body(request)
    path = _path(req.get("path", ""), allow_root=True)
    entries = state.store.volume_listdir(vid, path, bool(req.get("recursive")))
    if entries is None:
        raise NotFound(f"no file or directory {path!r} in {label}")
    return reply({"entries": [list(e) for e in entries]})


@routes.post("/v1/volumes/{object_id}/stat")
async def stat(request: web.Request) -> web.Response:
    state, vid, label = _volume(request)
    path = _path((await body(request)).get("path"))
    row = state.store.volume_file(vid, path)
    if row is None:
        if state.store.volume_is_dir(vid, path):
            raise InvalidRequest(f"{path!r} is a directory in {label}, not a file")
        raise NotFound(f"no file {path!r} in {label}")
    _, sha, size, mode, mtime = row
    return reply({"path": path, "sha256": sha, "size": size, "mode": mode, "mtime": mtime})


@routes.post("/v1/volumes/{object_id}/blobs/read")
async def read_blob(request: web.Request) -> web.Response:
    """A range of at most CHUNK_BYTES of one of the volume's blobs."""
    state, vid, label = _volume(request)
    req = await body(request)
    sha = _digest_field(req.get("sha"))
    offset = _int(req, "offset", 0, 1 << 62)
    length = _int(req, "length", 1, CHUNK_BYTES)
    if not state.store.sha_in_volume(vid, sha):
        raise NotFound(f"{label} has no file with content {sha} (it changed meanwhile)")
    return reply(volume_blobs(request.app).read(sha, offset, length))


@routes.post("/v1/volumes/{object_id}/blobs/get")
async def get_blobs(request: web.Request) -> web.Response:
    """Several small blobs of the volume at once."""
    state, vid, label = _volume(request)
    shas = (await body(request)).get("shas")
    if not isinstance(shas, list):
        raise InvalidRequest("shas must be a list of sha256 digests")
    blobs, store, total = [], volume_blobs(request.app), 0
    for sha in shas:
        _digest_field(sha)
        size = store.size(sha)
        if size is None or not state.store.sha_in_volume(vid, sha):
            raise NotFound(f"{label} has no file with content {sha} (it changed meanwhile)")
        total += size
        if total > MAX_BATCH_BYTES:
            raise InvalidRequest(f"a batch of blobs holds at most {MAX_BATCH_BYTES} bytes")
        blobs.append([sha, store.read(sha, 0, size)])
    return reply({"blobs": blobs})


# -- writing ---------------------------------------------------------------------------------------


@routes.post("/v1/volumes/{object_id}/blobs/missing")
async def missing_blobs(request: web.Request) -> web.Response:
    _volume(request)
    shas = (await body(request)).get("shas")
    if not isinstance(shas, list):
        raise InvalidRequest("shas must be a list of sha256 digests")
    store = volume_blobs(request.app)
    return reply({"missing": [s for s in shas if not store.exists(_digest_field(s))]})


@routes.post("/v1/volumes/{object_id}/blobs/put")
async def put_blobs(request: web.Request) -> web.Response:
    """Whole small blobs, each checked against its digest."""
    _volume(request)
    blobs = (await body(request)).get("blobs")
    if not isinstance(blobs, list) or not all(
        isinstance(b, list) and len(b) == 2 and isinstance(b[1], bytes) for b in blobs
    ):
        raise InvalidRequest("blobs must be a list of [sha256, bytes]")
    store = volume_blobs(request.app)
    for sha, data in blobs:
        if not store.exists(_digest_field(sha)):
            store.put(sha, data)
    return reply({})


@routes.post("/v1/volumes/{object_id}/blobs/upload")
async def upload_chunk(request: web.Request) -> web.Response:
    """One chunk of a large blob (see ``VolumeBlobs.append``)."""
    _volume(request)
    req = await body(request)
    data = req.get("data")
    if not isinstance(data, bytes) or len(data) > CHUNK_BYTES:
        raise InvalidRequest(f"data must be bytes, at most {CHUNK_BYTES} of them")
    await volume_blobs(request.app).append(
        _token(req, "upload_id"),
        _digest_field(req.get("sha")),
        _int(req, "offset", 0, 1 << 62),
        data,
        bool(req.get("final")),
    )
    return reply({})


def _conflict_message(label: str, taken: list[str]) -> str:
    more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
    return (
        f"{label} already has {taken[0]!r}{more}; pass force=True to batch_upload"
        " (`gw volume put --force`) to overwrite"
    )


@routes.post("/v1/volumes/{object_id}/check_absent")
async def check_absent(request: web.Request) -> web.Response:
    """409 if any of ``paths`` is taken (a non-forced upload checks before sending content)."""
    state, vid, label = _volume(request)
    paths = (await body(request)).get("paths")
    if not isinstance(paths, list):
        raise InvalidRequest("paths must be a list")
    taken = state.store.volume_conflicts(vid, [_path(p) for p in paths])
    if taken:
        raise Conflict(_conflict_message(label, taken))
    return reply({})


_last_prune = 0.0


@routes.post("/v1/volumes/{object_id}/commit")
async def commit(request: web.Request) -> web.Response:
    """Merge ``changes`` (files written) and ``deletions`` (files removed) into the newest
    version. The later commit wins on a path both touch; other paths keep both commits' writes."""
    global _last_prune
    state, vid, label = _volume(request)
    req = await body(request)
    commit_id = _token(req, "id")
    changes = _changes(req)
    deletions_field = req.get("deletions") or []
    if not isinstance(deletions_field, list):
        raise InvalidRequest("deletions must be a list of paths")
    deletions = [_path(p) for p in deletions_field]
    done = state.store.volume_commit_version(commit_id)
    if done is not None:
        return reply({"version": done, "missing": []})
    store = volume_blobs(request.app)
    missing = sorted({sha for _, sha, _, _, _ in changes if not store.exists(sha)})
    if missing:
        return reply({"version": None, "missing": missing})
    for path, sha, size, _, _ in changes:
        if store.size(sha) != size:
            raise InvalidRequest(f"{path!r}: its content {sha} is not {size} bytes long")
    if req.get("if_absent"):
        taken = state.store.volume_conflicts(vid, [c[0] for c in changes])
        if taken:
            raise Conflict(_conflict_message(label, taken))
    version, released = state.store.volume_apply(vid, commit_id, changes, deletions)
    if time.time() - _last_prune > 3600:
        _last_prune = time.time()
        state.store.prune_volume_commits(time.time() - STALE_S)
    state.store.commit()
    _released(state, request.app, released)
    return reply({"version": version, "missing": []})


@routes.post("/v1/volumes/{object_id}/remove")
async def remove(request: web.Request) -> web.Response:
    """Remove a file, or a directory with ``recursive``, as a new version."""
    state, vid, label = _volume(request)
    req = await body(request)
    path, commit_id = _path(req.get("path")), _token(req, "id")
    done = state.store.volume_commit_version(commit_id)
    if done is not None:
        return reply({"version": done})
    if state.store.volume_file(vid, path):
        version, released = state.store.volume_apply(vid, commit_id, [], [path])
    elif state.store.volume_is_dir(vid, path):
        if not req.get("recursive"):
            raise InvalidRequest(
                f"{path!r} is a directory: pass recursive=True (`gw volume rm -r`) to remove it"
                " and everything under it"
            )
        version, released = state.store.volume_apply(vid, commit_id, [], [], [path])
    else:
        raise NotFound(f"no file or directory {path!r} in {label}")
    state.store.commit()
    _released(state, request.app, released)
    return reply({"version": version})
