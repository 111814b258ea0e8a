"""Routes containers use: their spec, polling for inputs, heartbeats, start-up failures."""

from __future__ import annotations

from aiohttp import web

from .errors import Unauthorized
from .http import body, query_float, reply
from .scheduler import Input
from .state import State

routes = web.RouteTableDef()
MAX_POLL_S = 60.0


def _own(request: web.Request) -> str:
    cid = request.match_info["cid"]
    if request.get("identity") != ("container", cid):
        raise Unauthorized(f"only container {cid} may use this route")
    return cid


def wire(inputs: list[Input]) -> list[list]:
    return [[i.id, i.args] for i in inputs]


@routes.get("/v1/containers/{cid}/spec")
async def spec(request: web.Request) -> web.Response:
    spec = request.app["state"].scheduler.container_spec(_own(request))
    # where to open the container channel (see channel.py) instead of polling over HTTP
    return reply({**spec, "channel": request.app["channel"].address})


@routes.post("/v1/containers/{cid}/poll")
async def poll(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    cid = _own(request)
    req = await body(request)
    lease = await state.scheduler.poll(
        cid,
        req.get("outputs") or [],
        int(req.get("slots", 1)),
        query_float(request, "timeout", 0, MAX_POLL_S),
    )
    if lease is None:
        return reply({"stop": True, "inputs": []})
    return reply({"stop": False, "inputs": wire(lease)})


@routes.post("/v1/containers/{cid}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    return reply({"stop": request.app["state"].scheduler.heartbeat(_own(request))})


@routes.post("/v1/containers/{cid}/failed")
async def failed(request: web.Request) -> web.Response:
    req = await body(request)
    request.app["state"].scheduler.container_failed(_own(request), str(req.get("traceback", "")))
    return reply({})


@routes.post("/v1/containers/{cid}/probe")
async def probe(request: web.Request) -> web.Response:
    req = await body(request)
    request.app["state"].scheduler.probe_result(
        _own(request),
        str(req["method"]),
        str(req["kind"]),
        bool(req["ok"]),
        str(req.get("detail", "")),
        float(req.get("duration", 0.0)),
    )
    return reply({})
