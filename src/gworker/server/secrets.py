"""Routes for secrets: create or replace (with their values), delete by name, resolve at publish,
store an app's inline secrets; and ``container_env`` for the scheduler. Looking up, listing
(names and key names only) and deleting by id are the registry's (``server/registry.py``).

No route ever answers with a value, and no error message quotes one: values go out only in a
container's own spec (``/v1/containers/{cid}/spec``), decrypted by ``container_env``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gworker_client._protocol.objects import ObjectKind
from gworker_client._secret import key_problem, values_problem

from . import namespaces, registry
from .errors import InvalidRequest, NotFound
from .http import body, reply, req_name

if TYPE_CHECKING:
    from ..store.contract import StateStore
    from .state import State

routes = web.RouteTableDef()
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def _describe(store: StateStore, sid: str) -> dict[str, Any]:
    return {"keys": store.secret_keys(sid) or []}


KIND = registry.Kind(
    ObjectKind.SECRET,
    _describe,
    creatable_empty=False,
    create_args=" KEY=VALUE ...",
    conflict_hint="pass --force (`gw secret create --force`) to replace its values",
)


def _values(req: dict[str, Any]) -> dict[str, str]:
    values = req.get("values")
    problem = values_problem(values)
    if problem:
        raise InvalidRequest(problem)
    return dict(values)  # type: ignore[arg-type]


def _secret_id(req: dict[str, Any]) -> str:
    """The new secret's id, from the client's request id (so that a retry finds it)."""
    rid = req.get("id")
    if not isinstance(rid, str) or not _REQUEST_ID.fullmatch(rid):
        raise InvalidRequest(f"request id {rid!r} must be 32 hex digits")
    return f"{ObjectKind.SECRET.prefix}-{rid[:20]}"


def named_values(store: StateStore, env: str, name: str) -> dict[str, str] | None:
    """The values of the named secret, None if there is none."""
    found = store.object_by_name(ObjectKind.SECRET, env, name)
    return store.secret_values(found.id) if found else None


@routes.post("/v1/secrets")
async def create(request: web.Request) -> web.Response:
    """Create a named secret; with ``force`` replace the values of an existing one."""
    state: State = request.app["state"]
    req = await body(request)
    name, values = req_name(req, "secret"), _values(req)
    env = namespaces.require(state.store, req.get("environment"))
    sid = _secret_id(req)
    if not values:
        raise InvalidRequest(f"secret {name!r} needs at least one KEY=VALUE")
    if state.store.object(sid) is not None:  # a retry of a create that succeeded
        return reply({"replaced": False})
    existing = state.store.object_by_name(ObjectKind.SECRET, env, name)
    if existing is not None and req.get("force"):
        target = existing
    else:
        target = registry.create(state.store, KIND, sid, name, env)  # Conflict if name taken
    state.store.put_secret_values(target.id, values)
    state.store.commit()
    return reply({"replaced": target is existing})


@routes.post("/v1/secrets/delete")
async def delete(request: web.Request) -> web.Response:
    """Delete a named secret; NotFound if there is none."""
    state: State = request.app["state"]
    req = await body(request)
    env = namespaces.require(state.store, req.get("environment"))
    found = registry.lookup(state.store, KIND, req_name(req, "secret"), env)
    registry.delete(request.app, KIND, found.id)
    return reply({})


@routes.post("/v1/secrets/resolve")
async def resolve(request: web.Request) -> web.Response:
    """The ids of named secrets, checking each has its ``required_keys`` (at publish)."""
    state: State = request.app["state"]
    req = await body(request)
    refs = req.get("secrets")
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise InvalidRequest("secrets must be a list of {name, environment, required_keys}")
    ids = []
    for ref in refs:
        name = req_name(ref, "secret")
        env = namespaces.require(state.store, ref.get("environment"))
        required = ref.get("required_keys") or []
        if not isinstance(required, list) or any(key_problem(k) for k in required):
            raise InvalidRequest(f"required_keys of secret {name!r} must be a list of key names")
        sid = registry.lookup(state.store, KIND, name, env).id
        keys = state.store.secret_keys(sid) or []
        missing = [k for k in required if k not in keys]
        if missing:
            raise InvalidRequest(
                f"secret {name!r} in environment {env!r} has no key {', '.join(missing)}"
                f" (required_keys); it has {', '.join(keys)}. Add it with"
                f" `gw secret create {name} ... --force`"
            )
        ids.append(sid)
    return reply({"ids": ids})


@routes.post("/v1/secrets/inline")
async def inline(request: web.Request) -> web.Response:
    """Store an inline secret with the app being published (reusing an identical one)."""
    state: State = request.app["state"]
    req = await body(request)
    sid, values = _secret_id(req), _values(req)
    app = state.store.app(str(req.get("app_id")))
    if app is None:
        raise NotFound(f"app {req.get('app_id')!r} does not exist")
    if state.store.object(sid) is not None:  # a retry
        return reply({"id": sid})
    state.store.drop_stopped_apps_objects()
    existing = state.store.inline_secret(app["id"], values)
    if existing is None:
        registry.create(state.store, KIND, sid, None, app["environment"], app_id=app["id"])
        state.store.put_secret_values(sid, values)
    state.store.commit()
    return reply({"id": existing or sid})


def container_env(store: StateStore, refs: list[dict[str, Any]]) -> dict[str, str]:
    """A function's secrets merged in order (later ones win): its containers' environment."""
    env: dict[str, str] = {}
    for ref in refs:
        values = store.secret_values(ref["id"])
        if values is None and ref.get("name"):  # deleted and created again since the publish
            values = named_values(store, ref.get("environment") or "main", ref["name"])
        if values is None:
            what = f"secret {ref['name']!r}" if ref.get("name") else "an inline secret"
            raise NotFound(
                f"{what} that this function uses was deleted: create it again"
                " (`gw secret create`) or publish the app again"
            )
        env.update(values)
    return env
