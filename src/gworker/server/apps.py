"""Routes for apps: create, publish code and functions, stop, list, logs, lookups."""

from __future__ import annotations

import uuid

from aiohttp import web

from gworker_client._protocol import (
    MAX_WAIT_S,
    FunctionSpec,
    PublishApp,
    PublishedFunction,
    PublishReply,
    from_builtins,
    spec_problem,
)
from gworker_client._protocol.limits import MAX_CODE_BUNDLE_BYTES

from . import namespaces
from .errors import InvalidRequest, NotFound, TooLarge
from .http import body, decode, query_float, query_int, reply
from .state import State

routes = web.RouteTableDef()
# detached: ephemeral, but it outlives its client and stops once it has no work left
MODES = ("ephemeral", "detached", "deployed")


@routes.post("/v1/apps")
async def create_app(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    name, mode = req.get("name"), req.get("mode")
    env = namespaces.require(state.store, req.get("environment"))
    if not isinstance(name, str) or not 0 < len(name) <= 256:
        raise InvalidRequest(f"app name {name!r} must be a non-empty string")
    if mode not in MODES:
        raise InvalidRequest(f"app mode {mode!r} is not one of {MODES}")
    app_id = state.store.deployed_app(name, env) if mode == "deployed" else None
    if app_id is None:
        app_id = "ap-" + uuid.uuid4().hex[:20]
        state.store.add_app(app_id, name, env, mode)
        state.store.set_app_token(app_id, request["identity"][1])  # whose usage it is
        state.store.commit()
        state.scheduler.app_created(app_id, mode)
    return reply({"app_id": app_id})


@routes.post("/v1/apps/lookup")
async def lookup_app(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await body(request)
    name = req.get("name")
    env = namespaces.require(state.store, req.get("environment"))
    if not isinstance(name, str) or not 0 < len(name) <= 256:
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
        state.store.set_app_token(app_id, request["identity"][1])
        state.store.commit()
    return reply({"app_id": app_id})


@routes.post("/v1/apps/{app_id}/publish")
async def publish(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    req = await decode(request, PublishApp)
    # every spec is checked before anything is stored: a bad one must never reach the scheduler
    for f in req.functions:
        problem = spec_problem(f.spec)
        if problem:
            raise InvalidRequest(f"function {f.tag!r}: {problem}")
    if len({f.tag for f in req.functions}) != len(req.functions):
        raise InvalidRequest("publish lists a function tag twice")
    if not state.blobs.exists(req.code_blob):
        raise InvalidRequest(f"code blob {req.code_blob!r} was not uploaded")
    size = state.blobs.size(req.code_blob) or 0
    if size > MAX_CODE_BUNDLE_BYTES:
        raise TooLarge(
            f"the app's code bundle is {size} bytes; at most {MAX_CODE_BUNDLE_BYTES} are accepted"
            " (data belongs in a Volume or an image, not beside the code)"
        )
    web_table = request.app["gateway"].table
    web_table.check_publish(request.match_info["app_id"], req.functions)  # labels are free
    ids = state.scheduler.publish(
        request.match_info["app_id"], req.module, req.code_blob, req.functions
    )
    request.app["schedules"].changed()
    # the caller follows container output from here (it saw the image builds as they ran)
    cursor = state.store.last_log(request.match_info["app_id"])
    web_urls = web_table.urls(request.match_info["app_id"])
    return reply(PublishReply(functions=ids, log_cursor=cursor, web_urls=web_urls))


@routes.get("/v1/apps/{app_id}/history")
async def history(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    app_id = request.match_info["app_id"]
    if state.store.app(app_id) is None:
        raise NotFound(f"app {app_id} does not exist")
    return reply({"versions": state.store.app_versions(app_id)})


@routes.post("/v1/apps/{app_id}/rollback")
async def rollback(request: web.Request) -> web.Response:
    """Publish an earlier version's code and functions again, as a new version."""
    state: State = request.app["state"]
    app_id = request.match_info["app_id"]
    req = await body(request)
    app = state.store.app(app_id)
    if app is None or app["mode"] != "deployed" or app["state"] != "running":
        raise InvalidRequest(f"app {app_id} is not a running deployed app; only those roll back")
    versions = [v["version"] for v in state.store.app_versions(app_id)]
    target = req.get("version")
    if target is None:
        if len(versions) < 2:
            raise InvalidRequest(
                f"app {app['name']!r} has only one version: nothing to roll back to"
            )
        target = versions[-2]
    if isinstance(target, bool) or not isinstance(target, int) or target not in versions:
        raise InvalidRequest(f"version {target!r} is not one of app {app['name']!r}'s: {versions}")
    rows = state.store.version_functions(app_id, target)
    ids = state.scheduler.publish(
        app_id,
        rows[0]["module"],
        rows[0]["code_blob"],
        [
            PublishedFunction(tag=r["tag"], spec=from_builtins(r["spec"], FunctionSpec))
            for r in rows
        ],
    )
    request.app["schedules"].changed()
    request.app["gateway"].table.dirty = True
    return reply({"functions": ids, "version": versions[-1] + 1, "from_version": target})


@routes.post("/v1/apps/{app_id}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    request.app["state"].scheduler.app_heartbeat(request.match_info["app_id"])
    return reply({})


@routes.post("/v1/apps/{app_id}/disconnect")
async def disconnect(request: web.Request) -> web.Response:
    """The client of an ephemeral app is leaving: stop the app, unless it is detached."""
    state: State = request.app["state"]
    app_id = request.match_info["app_id"]
    if state.store.app(app_id) is None:
        raise NotFound(f"app {app_id} does not exist")
    state.scheduler.app_disconnected(app_id)  # a stop tells schedules and the gateway (app.py)
    return reply({})


@routes.post("/v1/apps/{app_id}/stop")
async def stop(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    app_id = request.match_info["app_id"]
    if state.store.app(app_id) is None:
        raise NotFound(f"app {app_id} does not exist")
    state.scheduler.stop_app(app_id)  # a stop tells schedules and the gateway (app.py)
    return reply({})


@routes.get("/v1/apps")
async def list_apps(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    env = namespaces.in_query(request) if request.query.get("env") else None
    apps = state.store.apps(env)
    for app in apps:
        app["functions"] = sorted(state.store.app_functions(app["id"]))
        app["schedules"] = request.app["schedules"].next_runs(app["id"])
        app["containers"] = state.scheduler.container_count(app["id"])
    return reply({"apps": apps})


@routes.get("/v1/apps/resolve")
async def resolve_app(request: web.Request) -> web.Response:
    """An app id from an id or a name (the newest app of that name). An id names one app
    whatever the environment, so an ``env`` that is not the app's is refused, not ignored."""
    state: State = request.app["state"]
    ref = request.query.get("ref", "")
    env = namespaces.in_query(request)
    found = state.store.app(ref)
    if found:
        if request.query.get("env") and found["environment"] != env:
            raise InvalidRequest(
                f"app {ref} is in environment {found['environment']!r}, not {env!r}: drop --env"
                f" (an id names one app) or use --env {found['environment']}"
            )
        return reply(found)
    named = [a for a in state.store.apps(env) if a["name"] == ref]
    running = [a for a in named if a["state"] == "running"]
    if not named:
        raise NotFound(f"no app named {ref!r} in environment {env!r} (see `gw app list`)")
    return reply((running or named)[-1])


@routes.get("/v1/apps/{app_id}/logs")
async def logs(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    rows = await state.scheduler.wait_logs(
        request.match_info["app_id"],
        query_int(request, "after"),
        query_float(request, "timeout", 0, MAX_WAIT_S),
    )
    return reply({"logs": rows})


@routes.get("/v1/functions/lookup")
async def lookup_function(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    app_name, tag = request.query.get("app", ""), request.query.get("name", "")
    env = namespaces.in_query(request)
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
