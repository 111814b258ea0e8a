"""Routes for a Dict's entries (its lifecycle is the registry's, ``server/registry.py``). Keys
and values are opaque pickled bytes; none is unpickled here."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from gworker_client._object import MAX_KEY_BYTES, MAX_VALUE_BYTES
from gworker_client._protocol.objects import ObjectKind

from ..store.contract import StateStore
from . import registry
from .errors import InvalidRequest
from .fields import blob, count
from .http import body, reply
from .state import State

routes = web.RouteTableDef()
# A page of keys()/values()/items() holds at most this many entries and about this many bytes.
PAGE_ITEMS = 1000
PAGE_BYTES = 32 * 1024 * 1024


def _key(req: dict[str, Any], field: str = "key") -> bytes:
    return blob(req.get(field), "dict key", MAX_KEY_BYTES)


def _items(req: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    items = req.get("items")
    if not isinstance(items, list) or not all(isinstance(i, list) and len(i) == 2 for i in items):
        raise InvalidRequest("items must be a list of [key, value] pairs")
    return [
        (blob(k, "dict key", MAX_KEY_BYTES), blob(v, "dict value", MAX_VALUE_BYTES))
        for k, v in items
    ]


def _expires_at(req: dict[str, Any]) -> float | None:
    ttl = req.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < 1e12:
        raise InvalidRequest(f"ttl={ttl!r} must be a positive number of seconds, or None")
    return time.time() + ttl


def _describe(store: StateStore, did: str) -> dict[str, Any]:
    return {"items": store.dict_len(did)}


KIND = registry.Kind(ObjectKind.DICT, _describe)


def _dict(request: web.Request) -> tuple[State, str]:
    return request.app["state"], registry.in_url(request, ObjectKind.DICT).id


@routes.post("/v1/dicts/{object_id}/get")
async def get(request: web.Request) -> web.Response:
    state, did = _dict(request)
    value = state.store.dict_get(did, _key(await body(request)))
    return reply({"found": value is not None, "value": value})


@routes.post("/v1/dicts/{object_id}/contains")
async def contains(request: web.Request) -> web.Response:
    state, did = _dict(request)
    return reply({"found": state.store.dict_contains(did, _key(await body(request)))})


@routes.post("/v1/dicts/{object_id}/put")
async def put(request: web.Request) -> web.Response:
    """Write ``items`` (all checked before any is written); answer how many were written."""
    state, did = _dict(request)
    req = await body(request)
    items, expires_at = _items(req), _expires_at(req)
    written = state.store.dict_put(did, items, expires_at, bool(req.get("skip_if_exists")))
    state.store.commit()
    return reply({"written": written})


@routes.post("/v1/dicts/{object_id}/pop")
async def pop(request: web.Request) -> web.Response:
    state, did = _dict(request)
    value = state.store.dict_pop(did, _key(await body(request)))
    state.store.commit()
    return reply({"found": value is not None, "value": value})


@routes.post("/v1/dicts/{object_id}/clear")
async def clear(request: web.Request) -> web.Response:
    state, did = _dict(request)
    state.store.dict_clear(did)
    state.store.commit()
    return reply({})


@routes.get("/v1/dicts/{object_id}/len")
async def length(request: web.Request) -> web.Response:
    state, did = _dict(request)
    return reply({"len": state.store.dict_len(did)})


@routes.post("/v1/dicts/{object_id}/scan")
async def scan(request: web.Request) -> web.Response:
    """A page of entries in key order after the key ``after`` (none: from the start)."""
    state, did = _dict(request)
    req = await body(request)
    after = None if req.get("after") is None else _key(req, "after")
    limit = count(req, "limit", PAGE_ITEMS, PAGE_ITEMS)
    page = state.store.dict_scan(did, after, bool(req.get("values")), limit, PAGE_BYTES)
    more = bool(page) and bool(state.store.dict_scan(did, page[-1][0], False, 1, 0))
    return reply({"entries": [list(e) for e in page], "more": more})
