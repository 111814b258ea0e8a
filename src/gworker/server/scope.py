"""What a container's token may reach: its own app, and its environment's shared things.

A user's token is checked against ``roles.py``; a container's token acts as a developer and is
further confined here, as a Modal container is within its workspace:

- its own container routes, its own app's logs, containers, history, heartbeat and stop; it
  publishes nothing (a publish could name any secret and so read its values through a spec);
- deployed functions of its environment (calls, binds, stats), and calls of its own app or
  that it made itself; blobs of its own app's code, those it uploaded, and large arguments and
  results handed to it;
- named objects (Dicts, Queues, Volumes) and sandboxes of its environment's apps;
- with ``restrict_modal_access=True``: only its own app's functions and calls, and of named
  objects only the volumes it mounts and those passed in its inputs' arguments (their ids come
  with the call: ``CreateCall.objects``).

The first rule matching a request decides; a route no rule names is refused. Secret values reach
a container only through its own spec (``/v1/containers/{cid}/spec``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgpack
from aiohttp import web

from gworker_client._protocol.limits import blob_digest

from .errors import Forbidden, NotFound
from .scheduler.state import Container
from .state import State

Check = Callable[[State, Container, dict[str, str], web.Request], "bool | str"]


def _self(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    return m["cid"] == c.id


def _own_app(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    return m["app_id"] == c.function.app_id


def _function(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    row = state.store.function(m["fid"])
    if row is None:
        return True  # the route answers 404
    if row["app_id"] == c.function.app_id:
        return True
    return not _restricted(c) and _app_env(state, row["app_id"]) == _env(state, c)


def _call(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    if m["call_id"] in c.calls:
        return True
    try:
        cs = state.scheduler.calls.get(m["call_id"])
    except NotFound:
        return True  # the route answers 404
    fs = state.scheduler.functions.find(cs.function_id)
    app_id = fs.app_id if fs else (state.store.function(cs.function_id) or {}).get("app_id")
    return app_id == c.function.app_id


def _blob(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    digest = m["digest"]
    return digest in c.blobs or digest == c.function.code_blob


def _upload(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    c.blobs.add(m["digest"])
    return True


def _object(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    obj = state.store.object(m["object_id"])
    if obj is None:
        return True  # the route answers 404
    if _restricted(c):
        return obj.id in c.objects or obj.id in {v.volume_id for v in c.function.spec.volumes}
    return obj.environment == _env(state, c)


def _sandbox(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    try:
        return _near_app(state, c, r.app["sandboxes"].get(m["sid"]).app_id)
    except NotFound:
        return True


def _env_query(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    return not _restricted(c) and (r.query.get("env") or "main") == _env(state, c)


def _app_query(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    return _near_app(state, c, r.query.get("app_id") or "")


def _allow(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    return True


def _deny(state: State, c: Container, m: dict[str, str], r: web.Request) -> bool:
    return False


# checks that need the body: (environment it names, or app_id it names)
def _env_body(body: dict[str, Any], state: State, c: Container) -> bool:
    return not _restricted(c) and (body.get("environment") or "main") == _env(state, c)


def _app_body(body: dict[str, Any], state: State, c: Container) -> bool:
    app_id = body.get("app_id")
    return isinstance(app_id, str) and _near_app(state, c, app_id)


def _near_app(state: State, c: Container, app_id: str) -> bool:
    """Its own app, or (unless restricted) another app of its environment."""
    if app_id == c.function.app_id:
        return True
    return not _restricted(c) and _app_env(state, app_id) == _env(state, c)


_ID = r"(?P<{}>[^/]+)"
RULES: list[tuple[str, str, Any]] = [
    ("*", rf"/v1/containers/{_ID.format('cid')}/.*", _self),
    ("*", rf"/v1/apps/{_ID.format('app_id')}/publish", _deny),
    ("*", rf"/v1/apps/{_ID.format('app_id')}/(logs|containers|history|heartbeat|stop)", _own_app),
    ("POST", r"/v1/apps", _env_body),  # an app of its own (app.run inside a function)
    ("POST", r"/v1/apps/lookup", _env_body),
    ("GET", r"/v1/functions/lookup", _env_query),
    ("*", rf"/v1/functions/{_ID.format('fid')}/.*", _function),
    ("*", rf"/v1/calls/{_ID.format('call_id')}/.*", _call),
    ("GET", r"/v1/blobs/[^/]+/exists", _allow),
    ("GET", rf"/v1/blobs/{_ID.format('digest')}", _blob),
    ("PUT", rf"/v1/blobs/{_ID.format('digest')}", _upload),
    ("GET", r"/v1/(dicts|queues|volumes)", _env_query),
    ("POST", r"/v1/(dicts|queues|volumes)", _env_body),
    ("POST", r"/v1/(dicts|queues|volumes)/lookup", _env_body),
    ("*", rf"/v1/(dicts|queues|volumes)/{_ID.format('object_id')}/.*", _object),
    ("POST", r"/v1/images/build", _app_body),
    # a snapshot by id: whoever holds the id may build on it anyway (/v1/images/build)
    ("GET", r"/v1/images/im-[0-9a-f]{64}", _allow),
    ("POST", r"/v1/sandboxes", _app_body),
    ("GET", r"/v1/sandboxes", _app_query),
    ("GET", r"/v1/sandboxes/by-name", _app_query),
    ("*", rf"/v1/sandboxes/{_ID.format('sid')}(/.*)?", _sandbox),
]
_COMPILED = [(method, re.compile(pattern + "$"), check) for method, pattern, check in RULES]
_BODY_CHECKS = (_env_body, _app_body)


async def check(request: web.Request, state: State) -> None:
    """Refuse (403) what the requesting container may not reach."""
    who = request["identity"][1]
    c = state.scheduler.fleet.by_id.get(who)
    if c is None:
        _check_keeper(request, who)
        return
    for method, pattern, rule in _COMPILED:
        if method not in ("*", request.method):
            continue
        match = pattern.match(request.path)
        if match is None:
            continue
        if rule in _BODY_CHECKS:
            ok = rule(await _body(request), state, c)
        else:
            ok = rule(state, c, match.groupdict(), request)
        if not ok:
            break
        return
    restricted = " (restrict_modal_access=True)" if _restricted(c) else ""
    raise Forbidden(
        f"container {c.id} of {c.function.tag!r}{restricted} may not {request.method}"
        f" {request.path}: a container reaches its own app and its environment's objects"
        " (docs/secrets-and-volumes.md)"
    )


_VOLUME_ROUTE = re.compile(r"/v1/volumes/(?P<object_id>[^/]+)/.*$")


def _check_keeper(request: web.Request, who: str) -> None:
    """A sandbox's volume keeper (``sbv-``) reaches its sandbox's volumes and nothing else."""
    volumes = request.app["sandboxes"].keeper_volumes(who)
    if volumes is None:
        raise Forbidden("this container is no longer running")
    match = _VOLUME_ROUTE.match(request.path)
    if match is None or match["object_id"] not in volumes:
        raise Forbidden(f"a sandbox's volume keeper may not {request.method} {request.path}")


def grant_payloads(c: Container, payloads: list[bytes]) -> None:
    """Large arguments or results handed to ``c`` travel as blob references: let it read them."""
    for data in payloads:
        digest = blob_digest(data)
        if digest:
            c.blobs.add(digest)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        value = msgpack.unpackb(await request.read(), raw=False) if request.can_read_body else {}
    except Exception:
        return {}  # the route itself answers 400
    return value if isinstance(value, dict) else {}


def _restricted(c: Container) -> bool:
    return c.function.spec.restrict_modal_access


def _env(state: State, c: Container) -> str:
    if c.environment is None:
        c.environment = _app_env(state, c.function.app_id)
    return c.environment


def _app_env(state: State, app_id: str) -> str:
    app = state.store.app(app_id)
    return app["environment"] if app else ""
