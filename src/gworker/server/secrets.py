"""Routes for secrets: create or replace, list (names and key names only), delete, resolve at
publish, store an app's inline secrets; and ``container_env`` for the scheduler.

No route ever answers with a value, and no error message quotes one: values go out only in a
container's own spec (``/v1/containers/{cid}/spec``), decrypted by ``container_env``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gworker_client._secret import key_problem, values_problem

from .errors import Conflict, InvalidRequest, NotFound
from .http import body, reply, req_environment, req_name

if TYPE_CHECKING:
    from ..store import Store
    from .state import State

routes = web.RouteTableDef()
_ID = re.compile(r"[0-9a-f]{32}")


def _values(req: dict[str, Any]) -> dict[str, str]:
    values = req.get("values")
    problem = values_problem(values)
    if problem:
        raise InvalidRequest(problem)
    return dict(values)  # type: ignore[arg-type]


def _request_id(req: dict[str, Any]) -> str:
    rid = req.get("id")
    if not isinstance(rid, str) or not _ID.fullmatch(rid):
        raise InvalidRequest(f"request id {rid!r} must be 32 hex digits")
    return rid


def _secret_id(request_id: str) -> str:
    return "sc-" + request_id[:20]


def missing_message(name: str, env: str) -> str:
    return (
        f"secret {name!r} not found in environment {env!r}: create it with"
        f" `gw secret create {name} KEY=VALUE ...` (see `gw secret list`)"
    )


@routes.post("/v1/secrets")
async def create(request: web.Request) -> web.Response:
    """Create a named secret; with ``force`` replace the values of an existing one."""
    state: State = request.app["state"]
    req = await body(request)
    name, env, values = req_name(req, "secret"), req_environment(req), _values(req)
    sid = _secret_id(_request_id(req))
    if not values:
        raise InvalidRequest(f"secret {name!r} needs at least one KEY=VALUE")
    existing = state.store.secret_by_name(env, name)
    if existing == sid:  # a retry of a create that succeeded
        return reply({"replaced": False})
    if existing and not req.get("force"):
        raise Conflict(
            f"a secret named {name!r} already exists in environment {env!r}; pass --force"
            " (`gw secret create --force`) to replace its values"
        )
    state.store.put_secret(existing or sid, name, env, values)
    state.store.commit()
    return reply({"replaced": existing is not None})


@routes.get("/v1/secrets")
async def list_secrets(request: web.Request) -> web.Response:
    """An environment's named secrets: names, key names, times; never values."""
    state: State = request.app["state"]
    env = request.query.get("env") or "main"
    return reply({"secrets": state.store.named_secrets(env)})


@routes.post("/v1/secrets/delete")
async def delete(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    name, env = req_name(req, "secret"), req_environment(req)
    sid = state.store.secret_by_name(env, name)
    if sid is None:
        raise NotFound(missing_message(name, env))
    state.store.delete_secret(sid)
    state.store.commit()
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
        name, env = req_name(ref, "secret"), req_environment(ref)
        required = ref.get("required_keys") or []
        if not isinstance(required, list) or any(key_problem(k) for k in required):
            raise InvalidRequest(f"required_keys of secret {name!r} must be a list of key names")
        sid = state.store.secret_by_name(env, name)
        if sid is None:
            raise NotFound(missing_message(name, env))
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
    sid, values = _secret_id(_request_id(req)), _values(req)
    app = state.store.app(str(req.get("app_id")))
    if app is None:
        raise NotFound(f"app {req.get('app_id')!r} does not exist")
    if state.store.secret_keys(sid) is not None:  # a retry
        return reply({"id": sid})
    state.store.drop_stopped_apps_secrets()
    existing = state.store.inline_secret(app["id"], values)
    if existing is None:
        state.store.put_secret(sid, None, app["environment"], values, app_id=app["id"])
    state.store.commit()
    return reply({"id": existing or sid})


def container_env(store: Store, refs: list[dict[str, Any]]) -> dict[str, str]:
    """A function's secrets merged in order (later ones win): its containers' environment."""
    env: dict[str, str] = {}
    for ref in refs:
        values = store.secret_values(ref["id"])
        if values is None and ref.get("name"):  # deleted and created again since the publish
            sid = store.secret_by_name(ref.get("environment") or "main", ref["name"])
            values = store.secret_values(sid) if sid else None
        if values is None:
            what = f"secret {ref['name']!r}" if ref.get("name") else "an inline secret"
            raise NotFound(
                f"{what} that this function uses was deleted: create it again"
                " (`gw secret create`) or publish the app again"
            )
        env.update(values)
    return env
