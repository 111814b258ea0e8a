"""Content-addressed blobs (the app's code bundles): files under ``GW_HOME/blobs``."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import msgpack
from aiohttp import web

from .errors import InvalidRequest, NotFound
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

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        if not path.exists():
            raise NotFound(f"blob {digest} does not exist")
        return path.read_bytes()


@routes.get("/v1/blobs/{digest}/exists")
async def exists(request: web.Request) -> web.Response:
    return reply({"exists": request.app["state"].blobs.exists(request.match_info["digest"])})


@routes.put("/v1/blobs/{digest}")
async def put(request: web.Request) -> web.Response:
    data = msgpack.unpackb(await request.read(), raw=False)
    if not isinstance(data, bytes):
        raise InvalidRequest("a blob upload must be msgpack bytes")
    request.app["state"].blobs.put(request.match_info["digest"], data)
    return reply({})


@routes.get("/v1/blobs/{digest}")
async def get(request: web.Request) -> web.Response:
    return reply(request.app["state"].blobs.get(request.match_info["digest"]))
