"""Routes for apps: create, publish code and functions, stop, list, logs, lookups."""

from __future__ import annotations

import uuid

from aiohttp import web

from .errors import InvalidRequest, NotFound
from .http import body, query_float, query_int, reply
from .state import State

routes = web.RouteTableDef()
MODES = ("ephemeral", "deployed")


@routes.post("/v1/apps")
async def create_app(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    name, env, mode = req.get("name"), req.get("environment") or "main", req.get("mode")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"app name {name!r} must be a non-empty string")
    if mode not in MODES:
        raise InvalidRequest(f"app mode {mode!r} is not one of {MODES}")
    app_id = state.store.deployed_app(name, env) if mode == "deployed" else None
    if app_id is None:
        app_id = "ap-" + uuid.uuid4().hex[:20]
        state.store.add_app(app_id, name, env, mode)
        state.store.commit()
        if mode == "ephemeral":
            state.scheduler.app_heartbeats[app_id] = __import__("time").monotonic()
    return reply({"app_id": app_id})


@routes.post("/v1/apps/lookup")
async def lookup_app(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    name, env = req.get("name"), req.get("environment") or "main"
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"app name {name!r} must be a non-empty string")
    app_id = state.store.deployed_app(name, env)
    if app_id is None:
        if not req.get("create"):
            raise NotFound(
                f"no deployed app named {name!r} in environment {env!r};"
                " deploy it with `gw deploy` or pass create_if_missing=True"
            )
        app_id = "ap-" + uuid.uuid4().hex[:20]
        state.store.add_app(app_id, name, env, "deployed")
        state.store.commit()
    return reply({"app_id": app_id})


@routes.post("/v1/apps/{app_id}/publish")
async def publish(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    if not state.blobs.exists(req.get("code_blob", "")):
        raise InvalidRequest(f"code blob {req.get('code_blob')!r} was not uploaded")
    web_table = request.app["gateway"].table
    web_table.check_publish(request.match_info["app_id"], req["functions"])  # labels are free
    ids = state.scheduler.publish(
        request.match_info["app_id"], req["module"], req["code_blob"], req["functions"]
    )
    # the caller follows container output from here (it saw the image builds as they ran)
    cursor = state.store.last_log(request.match_info["app_id"])
    web_urls = web_table.urls(request.match_info["app_id"])
    return reply({"functions": ids, "log_cursor": cursor, "web_urls": web_urls})


@routes.post("/v1/apps/{app_id}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    request.app["state"].scheduler.app_heartbeat(request.match_info["app_id"])
    return reply({})


@routes.post("/v1/apps/{app_id}/stop")
async def stop(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    app_id = request.match_info["app_id"]
    if state.store.app(app_id) is None:
        raise NotFound(f"app {app_id} does not exist")
    state.scheduler.stop_app(app_id)
    request.app["gateway"].table.dirty = True  # its web endpoints are gone
    return reply({})


@routes.get("/v1/apps")
async def list_apps(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    apps = state.store.apps(request.query.get("env"))
    for app in apps:
        app["functions"] = sorted(state.store.app_functions(app["id"]))
        app["containers"] = sum(
            len(f.containers) for f in state.scheduler.functions.values() if f.app_id == app["id"]
        )
    return reply({"apps": apps})


@routes.get("/v1/apps/resolve")
async def resolve_app(request: web.Request) -> web.Response:
    """An app id from an id or a name (the newest app of that name)."""
    state: State = request.app["state"]
    ref, env = request.query.get("ref", ""), request.query.get("env") or "main"
    if state.store.app(ref):
        return reply(state.store.app(ref))
    named = [a for a in state.store.apps(env) if a["name"] == ref]
    running = [a for a in named if a["state"] == "running"]
    if not named:
        raise NotFound(f"no app named {ref!r} in environment {env!r} (see `gw app list`)")
    return reply((running or named)[-1])


@routes.get("/v1/apps/{app_id}/logs")
async def logs(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    rows = await state.scheduler.logs.wait(
        request.match_info["app_id"],
        query_int(request, "after"),
        query_float(request, "timeout", 0, 60),
    )
    return reply({"logs": rows})


@routes.get("/v1/functions/lookup")
async def lookup_function(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    app_name, tag = request.query.get("app", ""), request.query.get("name", "")
    env = request.query.get("env") or "main"
    app_id = state.store.deployed_app(app_name, env)
    if app_id is None:
        raise NotFound(
            f"no deployed app named {app_name!r} in environment {env!r}; deploy it with `gw deploy`"
        )
    fid = state.store.live_function(app_id, tag)
    if fid is None:
        known = sorted(state.store.app_functions(app_id))
        raise NotFound(f"app {app_name!r} has no function {tag!r}; it has {known}")
    function = state.store.function(fid)
    assert function is not None  # live_function found it in this same transaction
    return reply({"function_id": fid, "app_id": app_id, "spec": function["spec"]})


@routes.get("/v1/apps/{app_id}/containers")
async def containers(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    app_id = request.match_info["app_id"]
    probes = [
        dict(zip(("container", "method", "kind", "ok", "detail", "duration", "ts"), row))
        for row in state.store.probes(app_id)
    ]
    return reply({"containers": state.scheduler.containers_of(app_id), "probes": probes})
