"""Routes for what runs now, as ``gw container`` shows and acts on it: function containers and
sandboxes in one list, a function container's log lines, and stopping one.

A sandbox's own routes (``sandboxes.py``) serve its output and commands; these add the function
containers beside them. Only a user's token may use them: a container stops no other.
"""

from __future__ import annotations

import time

from aiohttp import web

from gworker_client._protocol import MAX_WAIT_S

from ..backends.launch import LaunchError
from .errors import InvalidRequest, NotFound, Unauthorized
from .http import query_float, query_int, reply
from .scheduler.sandboxes import Sandboxes
from .state import State

routes = web.RouteTableDef()


def _user(request: web.Request) -> State:
    if request["identity"][0] != "user":
        raise Unauthorized("only a user's token may list or stop containers")
    state: State = request.app["state"]
    return state


@routes.get("/v1/running")
async def running(request: web.Request) -> web.Response:
    """Running containers and sandboxes (of one app, with ``app_id``), oldest first."""
    state = _user(request)
    sandboxes: Sandboxes = request.app["sandboxes"]
    app_id = request.query.get("app_id") or None
    now_mono, now = time.monotonic(), time.time()
    rows = [
        {
            "id": c.id,
            "kind": "function",
            "app_id": c.function.app_id,
            "name": c.function.tag,
            "state": "stopping" if c.stopping else ("busy" if c.leased else "idle"),
            "started_at": now - (now_mono - c.started_at),
            "gpu": c.gpu,
        }
        for c in state.scheduler.fleet.by_id.values()
        if app_id is None or c.function.app_id == app_id
    ]
    rows += [
        {
            "id": sb["sandbox_id"],
            "kind": "sandbox",
            "app_id": sb["app_id"],
            "name": sb["name"] or "",
            "state": sb["state"],
            "started_at": sb["created_at"],
            "gpu": None,
        }
        for sb in sandboxes.listing(app_id)
    ]
    return reply({"containers": sorted(rows, key=lambda r: r["started_at"])})


@routes.get("/v1/running/{cid}/logs")
async def logs(request: web.Request) -> web.Response:
    """A function container's log lines after the cursor ``after``, waiting up to ``timeout``
    for the first: ``{"logs": [[seq, stream, text]], "running": bool}``."""
    state = _user(request)
    cid = request.match_info["cid"]
    app_id = state.store.container_app(cid)
    if app_id is None:
        raise NotFound(f"no container with id {cid!r} (see `gw container list`)")
    after = query_int(request, "after")
    deadline = time.monotonic() + query_float(request, "timeout", 0, MAX_WAIT_S)
    while not (rows := state.store.container_logs_after(cid, after)):
        left = deadline - time.monotonic()
        if left <= 0 or cid not in state.scheduler.fleet.by_id:
            break
        # any new line of its app wakes this; lines of other containers are skipped above
        await state.scheduler.wait_logs(app_id, state.store.last_log(app_id), left)
    return reply({"logs": rows, "running": cid in state.scheduler.fleet.by_id})


@routes.post("/v1/running/{cid}/stop")
async def stop(request: web.Request) -> web.Response:
    """Stop a function container now; the inputs it was running go to another (as Modal's
    ``container stop``)."""
    state = _user(request)
    cid = request.match_info["cid"]
    c = state.scheduler.fleet.by_id.get(cid)
    if c is None:
        raise NotFound(f"no running container with id {cid!r} (see `gw container list`)")
    state.scheduler.fleet.stop(c, kill_reason="replaced", force=True)
    return reply({"id": cid, "state": "stopping"})


@routes.post("/v1/running/{cid}/attach")
async def attach(request: web.Request) -> web.Response:
    """Make a running function container take commands as a sandbox does (its id stays)."""
    state = _user(request)
    cid = request.match_info["cid"]
    c = state.scheduler.fleet.by_id.get(cid)
    if c is None:
        raise NotFound(f"no running container with id {cid!r} (see `gw container list`)")
    sandboxes: Sandboxes = request.app["sandboxes"]
    try:
        sb = await sandboxes.attach(cid, c.function.app_id, request.app["attach_container"])
    except LaunchError as e:
        raise InvalidRequest(f"cannot run commands in {cid}: {e}") from None
    return reply(sb.describe())
