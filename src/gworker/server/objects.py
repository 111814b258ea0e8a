"""Routes Dicts and Queues share (create, look up, list, delete) and their request checks.

``/v1/dicts/...`` and ``/v1/queues/...`` name the kind; ids are chosen by the client (``di-...``,
``qu-...``) so that a retried create is idempotent.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gworker_client._object import size_problem

from .errors import Conflict, InvalidRequest, NotFound
from .http import body, reply, req_environment, req_name
from .state import State

routes = web.RouteTableDef()
KINDS = {"dicts": "dict", "queues": "queue"}
PREFIXES = {"dict": "di", "queue": "qu"}
_KIND = "{kind:dicts|queues}"
_ID = re.compile(r"[a-z]{2}-[0-9a-f]{20}")
# A long-poll is held this long at most (the SDK asks for 25 s).
MAX_WAIT_S = 60.0


def missing_message(kind: str, name: str, env: str) -> str:
    return (
        f"no {kind} named {name!r} in environment {env!r}: pass create_if_missing=True to"
        f" {kind.capitalize()}.from_name, or create it with `gw {kind} create {name}`"
    )


def object_id(request: web.Request, kind: str) -> str:
    """The id in the URL, which must name an existing object of ``kind``."""
    oid = request.match_info["object_id"]
    if request.app["state"].store.object_kind(oid) != kind:
        raise NotFound(f"{kind} {oid} does not exist (it was deleted, or never created)")
    return oid


def blob(value: Any, what: str, limit: int) -> bytes:
    """A key or value from a request: bytes (the SDK's pickle) within ``limit``."""
    if not isinstance(value, bytes):
        raise InvalidRequest(f"{what} must be bytes pickled by the SDK, not {type(value).__name__}")
    problem = size_problem(what, len(value), limit)
    if problem:
        raise InvalidRequest(problem)
    return value


def number(req: dict[str, Any], field: str, low: float, high: float, default: float) -> float:
    value = req.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"{field}={value!r} is not a number")
    return max(low, min(float(value), high))


def count(req: dict[str, Any], field: str, high: int, default: int = 1) -> int:
    value = req.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{field}={value!r} must be a positive integer")
    return min(value, high)


def request_token(req: dict[str, Any], field: str) -> str:
    """A client-chosen request id (what makes a retry idempotent)."""
    value = req.get(field)
    if not isinstance(value, str) or not 8 <= len(value) <= 64:
        raise InvalidRequest(f"{field}={value!r} must be a string of 8 to 64 characters")
    return value


def _kind(request: web.Request) -> str:
    return KINDS[request.match_info["kind"]]


def _new_id(req: dict[str, Any], kind: str) -> str:
    oid = req.get("id")
    if not isinstance(oid, str) or not _ID.fullmatch(oid) or oid[:2] != PREFIXES[kind]:
        raise InvalidRequest(f"{kind} id {oid!r} is not valid: expected {PREFIXES[kind]}-<20 hex>")
    return oid


@routes.post(f"/v1/{_KIND}")
async def create(request: web.Request) -> web.Response:
    """Create a named object (409 if its name is taken), or an ephemeral one (``name: null``)."""
    state: State = request.app["state"]
    kind, req = _kind(request), await body(request)
    oid, env = _new_id(req, kind), req_environment(req)
    if state.store.object_kind(oid) == kind:  # a retry of a create that succeeded
        return reply({"id": oid})
    name = None if req.get("name") is None else req_name(req, kind)
    if name is not None and state.store.object_by_name(kind, env, name):
        raise Conflict(f"a {kind} named {name!r} already exists in environment {env!r}")
    state.store.add_object(oid, kind, name, env)
    state.store.commit()
    return reply({"id": oid})


@routes.post(f"/v1/{_KIND}/lookup")
async def lookup(request: web.Request) -> web.Response:
    """The id of a named object; with ``create: true`` the object is created if missing."""
    state: State = request.app["state"]
    kind, req = _kind(request), await body(request)
    name, env = req_name(req, kind), req_environment(req)
    oid = state.store.object_by_name(kind, env, name)
    if oid is None:
        if not req.get("create"):
            raise NotFound(missing_message(kind, name, env))
        oid = _new_id(req, kind)
        state.store.add_object(oid, kind, name, env)
        state.store.commit()
    return reply({"id": oid})


@routes.get(f"/v1/{_KIND}")
async def list_objects(request: web.Request) -> web.Response:
    """The named objects of an environment with their item counts."""
    state: State = request.app["state"]
    env = request.query.get("env") or "main"
    return reply({"objects": state.store.named_objects(_kind(request), env)})


@routes.post(f"/v1/{_KIND}/{{object_id}}/delete")
async def delete(request: web.Request) -> web.Response:
    """Delete an object and its contents; deleting a deleted object is not an error."""
    state: State = request.app["state"]
    kind, oid = _kind(request), request.match_info["object_id"]
    if state.store.object_kind(oid) == kind:
        state.store.delete_object(oid)
        state.store.commit()
        if kind == "queue":  # its long-polls answer NotFound now
            request.app["queue_waiters"].wake_queue(oid)
    return reply({})
