"""Content-addressed blobs under ``GW_HOME/blobs``: apps' code bundles, images' files and
archives, and large arguments and results.

An upload marked ``?payload=1`` (a large argument or result, ``gworker_client/_payload.py``)
that creates its blob is tracked, so that it is deleted once nothing refers to it
(``payloads.py``); an unmarked upload or existence check of a tracked blob pins it (some other
use shares its content), and blobs uploaded unmarked are never deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
import uuid
from pathlib import Path

from aiohttp import StreamReader, web

from gworker_client._protocol.limits import MAX_PAYLOAD_BYTES

from .errors import InvalidRequest, NotFound, TooLarge
from .http import reply

routes = web.RouteTableDef()
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise InvalidRequest(f"{digest!r} is not a sha256 hex digest")
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return _DIGEST.match(digest or "") is not None and self.path(digest).exists()

    def put(self, digest: str, data: bytes) -> None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise InvalidRequest(f"blob content hashes to {actual}, not {digest}")
        path = self.path(digest)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def size(self, digest: str) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        if not path.exists():
            raise NotFound(f"blob {digest} does not exist")
        return path.read_bytes()


def _is_payload(request: web.Request) -> bool:
    raw = request.query.get("payload", "0")
    if raw not in ("0", "1"):
        raise InvalidRequest(f"query parameter payload={raw[:80]!r} must be 1 or 0")
    return raw == "1"


@routes.get("/v1/blobs/{digest}/exists")
async def exists(request: web.Request) -> web.Response:
    """Whether the blob is here. A tracked payload blob found so starts its grace again (its
    finder is about to refer to it); found by any other use, it is pinned."""
    state = request.app["state"]
    digest, payload = request.match_info["digest"], _is_payload(request)
    found = state.blobs.exists(digest)
    if found and state.store.is_tracked_payload(digest):
        if payload:
            state.store.touch_payloads([digest], time.time())
        else:
            state.store.pin_blob(digest)
        state.store.commit()
    return reply({"exists": found})


@routes.put("/v1/blobs/{digest}")
async def put(request: web.Request) -> web.Response:
    """A blob upload: msgpack bytes, streamed to disk (a blob may be larger than the API's
    request limit, up to ``MAX_PAYLOAD_BYTES``) and checked against its digest."""
    state = request.app["state"]
    blobs: BlobStore = state.blobs
    digest, payload = request.match_info["digest"], _is_payload(request)
    path = blobs.path(digest)  # a bad digest is refused before the body is read
    reader = request.content
    try:
        head = await reader.readexactly(1)
        width = _BIN_WIDTHS.get(head[0])
        if width is None:
            raise InvalidRequest("a blob upload must be msgpack bytes (bin 8, 16 or 32)")
        size = int.from_bytes(await reader.readexactly(width), "big")
    except asyncio.IncompleteReadError:
        raise InvalidRequest("a blob upload must be msgpack bytes; the body ended early") from None
    if size > MAX_PAYLOAD_BYTES:
        raise TooLarge(f"a blob of {size} bytes is over the limit of {MAX_PAYLOAD_BYTES}")
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    try:
        actual = await _stream_to(reader, tmp, size)
        if actual != digest:
            raise InvalidRequest(f"blob content hashes to {actual}, not {digest}")
        existed = path.exists()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    tracked = state.store.is_tracked_payload(digest)
    if payload and (tracked or not existed):
        state.store.track_payload(digest, time.time())  # a blob another use made stays pinned
    elif tracked and not payload:
        state.store.pin_blob(digest)
    state.store.commit()
    return reply({})


_BIN_WIDTHS = {0xC4: 1, 0xC5: 2, 0xC6: 4}  # msgpack bin 8/16/32: bytes of the length after


async def _stream_to(reader: StreamReader, dest: Path, size: int) -> str:
    """Write exactly ``size`` bytes of ``reader`` to ``dest``; return their sha256."""
    h = hashlib.sha256()
    left = size
    with open(dest, "wb") as f:
        while left > 0:
            chunk = await reader.read(min(left, 1 << 20))
            if not chunk:
                raise InvalidRequest(f"a blob upload ended {left} bytes short of {size}")
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    if await reader.read(1):
        raise InvalidRequest("a blob upload carries bytes past its msgpack value")
    return h.hexdigest()


@routes.get("/v1/blobs/{digest}")
async def get(request: web.Request) -> web.StreamResponse:
    """The blob as msgpack bytes, streamed from disk."""
    path = request.app["state"].blobs.path(request.match_info["digest"])
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the response is streamed
    except FileNotFoundError:
        raise NotFound(f"blob {request.match_info['digest']} does not exist") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < 1 << 8:
            head = b"\xc4" + size.to_bytes(1, "big")
        elif size < 1 << 16:
            head = b"\xc5" + size.to_bytes(2, "big")
        else:
            head = b"\xc6" + size.to_bytes(4, "big")
        resp = web.StreamResponse(headers={"Content-Type": "application/msgpack"})
        resp.content_length = len(head) + size
        await resp.prepare(request)
        await resp.write(head)
        while chunk := f.read(1 << 20):
            await resp.write(chunk)
        await resp.write_eof()
    return resp
