"""Environments: namespaces for apps and named objects (``main`` always exists).

- ``GET /v1/environments``: every environment, its web suffix and how many apps run in it.
- ``POST /v1/environments``: create one (409 if the name is taken).
- ``POST /v1/environments/{name}/update``: rename it (while none of its apps runs) or set its
  web suffix (what its apps' URLs carry).
- ``POST /v1/environments/{name}/delete``: stop its apps, delete its named objects and the
  environment (``main`` cannot be deleted), as Modal's ``environment delete`` does.

Every route that takes an environment (apps, functions, named objects) resolves it with
``namespaces.require``: an unknown one is a 404 that says how to create it. Creating, changing
and deleting environments takes an admin's token (``roles.py``): a container (or a sandbox's
volume keeper) acts as a developer, so it cannot stop other apps or delete their objects.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gworker_client._web import TUNNEL_PREFIX

from ..store.contract import StateStore
from ..store.environments import DEFAULT_ENVIRONMENT, default_web_suffix
from . import registry
from .errors import Conflict, InvalidRequest
from .http import body, reply
from .namespaces import require
from .state import State

routes = web.RouteTableDef()
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SUFFIX = re.compile(r"^([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?)?$")


def _tunnel_like(suffix: str) -> bool:
    """Whether URLs carrying ``suffix`` (``<suffix>--<label>``) would start like a sandbox
    tunnel's label (``tn-...``): that prefix is kept for tunnels."""
    return suffix == TUNNEL_PREFIX[:-1] or suffix.startswith(TUNNEL_PREFIX)


def name_problem(name: Any) -> str | None:
    if isinstance(name, str) and _NAME.match(name):
        if _tunnel_like(default_web_suffix(name)):
            return (
                f"environment name {name!r} is not valid: names that give URLs starting with"
                f" {TUNNEL_PREFIX!r} are kept for sandbox tunnels"
            )
        return None
    return (
        f"environment name {name!r} is not valid: use 1-64 letters, digits, '-', '_' or '.',"
        " starting with a letter or digit"
    )


def _state(request: web.Request) -> State:
    state: State = request.app["state"]
    return state


def _suffix(value: Any) -> str:
    if isinstance(value, str) and _SUFFIX.match(value) and not _tunnel_like(value):
        return value
    raise InvalidRequest(
        f"web suffix {value!r} is not valid: use up to 32 lowercase letters, digits and '-'"
        f" (not at either end, not starting with {TUNNEL_PREFIX!r}), or '' for none"
    )


def _suffix_free(store: StateStore, suffix: str, name: str) -> str:
    """``suffix`` if no other environment's URLs carry it (their labels would collide)."""
    for e in store.environments():
        if e.name != name and e.web_suffix == suffix:
            raise Conflict(
                f"environment {e.name!r} already uses the web suffix {suffix!r}; their URLs"
                f" would collide: choose another with `gw environment update {name}"
                " --set-web-suffix ...`"
            )
    return suffix


@routes.get("/v1/environments")
async def list_environments(request: web.Request) -> web.Response:
    store = request.app["state"].store
    running: dict[str, int] = {}
    for a in store.apps():
        if a["state"] == "running":
            running[a["environment"]] = running.get(a["environment"], 0) + 1
    return reply(
        {
            "environments": [
                {
                    "name": e.name,
                    "web_suffix": e.web_suffix,
                    "created_at": e.created_at,
                    "apps": running.get(e.name, 0),
                    "default": e.name == DEFAULT_ENVIRONMENT,
                }
                for e in store.environments()
            ]
        }
    )


@routes.post("/v1/environments")
async def create_environment(request: web.Request) -> web.Response:
    store = _state(request).store
    req = await body(request)
    name = req.get("name")
    problem = name_problem(name)
    if problem:
        raise InvalidRequest(problem)
    assert isinstance(name, str)  # name_problem checked it
    suffix = default_web_suffix(name) if req.get("web_suffix") is None else req["web_suffix"]
    if store.environment(name) is None:
        _suffix_free(store, _suffix(suffix), name)
    if not store.add_environment(name, _suffix(suffix)):
        raise Conflict(f"an environment named {name!r} already exists (see `gw environment list`)")
    store.commit()
    return reply({"name": name})


@routes.post("/v1/environments/{name}/update")
async def update_environment(request: web.Request) -> web.Response:
    state = _state(request)
    name = require(state.store, request.match_info["name"])
    req = await body(request)
    unknown = sorted(set(req) - {"web_suffix", "name"})
    if unknown:
        raise InvalidRequest(
            f"environment update takes name and web_suffix; {', '.join(unknown)} cannot be changed"
        )
    store, new_name = state.store, req.get("name")
    renaming = isinstance(new_name, str) and new_name != name
    if new_name is not None and not isinstance(new_name, str):
        raise InvalidRequest(name_problem(new_name) or f"name {new_name!r} must be a string")
    # everything is checked before anything is written: a refused update changes nothing
    suffix = _suffix(req["web_suffix"]) if "web_suffix" in req else None
    if isinstance(new_name, str) and renaming:
        _check_rename(store, name, new_name)
        env = store.environment(name)
        if suffix is None and env is not None and env.web_suffix == default_web_suffix(name):
            suffix = default_web_suffix(new_name)  # a suffix nobody chose follows the name
    if suffix is not None:
        _suffix_free(store, suffix, name)
    if isinstance(new_name, str) and renaming:
        store.rename_environment(name, new_name)
        name = new_name
    if suffix is not None:
        store.set_web_suffix(name, suffix)
    store.commit()
    request.app["gateway"].table.dirty = True  # its apps' URLs may have changed
    return reply({"name": name})


def _check_rename(store: StateStore, name: str, new_name: str) -> None:
    """An environment is renamed only while none of its apps runs: a running container looks
    names up in the environment it was started in, which must not vanish under it."""
    problem = name_problem(new_name)
    if problem:
        raise InvalidRequest(problem)
    if name == DEFAULT_ENVIRONMENT:
        raise InvalidRequest(f"the default environment {name!r} cannot be renamed")
    if store.environment(new_name) is not None:
        raise Conflict(f"an environment named {new_name!r} already exists")
    running = sorted(a["name"] for a in store.apps(name) if a["state"] == "running")
    if running:
        raise InvalidRequest(
            f"environment {name!r} has running apps ({', '.join(running)}): stop them"
            f" (`gw app stop NAME --env {name}`) before renaming it, then deploy them again"
        )


@routes.post("/v1/environments/{name}/delete")
async def delete_environment(request: web.Request) -> web.Response:
    """Stop the environment's apps, delete its objects (and their contents), then itself."""
    state = _state(request)
    name = require(state.store, request.match_info["name"])
    if name == DEFAULT_ENVIRONMENT:
        raise InvalidRequest(f"the default environment {name!r} cannot be deleted")
    stopped = 0
    for app in state.store.apps(name):
        if app["state"] == "running":
            state.scheduler.stop_app(app["id"])
            stopped += 1
    request.app["schedules"].changed()
    request.app["gateway"].table.dirty = True
    kinds = {k.kind.value: k for k in request.app["kinds"].values()}
    objects = state.store.environment_objects(name)
    for oid, kind in objects:
        if kind in kinds:
            registry.delete(request.app, kinds[kind], oid)
    state.store.delete_environment(name)
    state.store.commit()
    return reply({"name": name, "apps_stopped": stopped, "objects_deleted": len(objects)})
