"""Routes containers use: their spec, polling for inputs, heartbeats, start-up failures."""

from __future__ import annotations

import msgspec
from aiohttp import web

from gworker_client._protocol import (
    MAX_WAIT_S,
    ContainerFailed,
    HeartbeatReply,
    LeasedInput,
    Poll,
    PollReply,
    ProbeResult,
)

from .errors import Unauthorized
from .http import decode, query_float, reply
from .state import State

routes = web.RouteTableDef()


def _own(request: web.Request) -> str:
    cid = request.match_info["cid"]
    if request.get("identity") != ("container", cid):
        raise Unauthorized(f"only container {cid} may use this route")
    return cid


@routes.get("/v1/containers/{cid}/spec")
async def spec(request: web.Request) -> web.Response:
    spec = request.app["state"].scheduler.container_spec(_own(request))
    # where to open the container channel (see channel.py) instead of polling over HTTP
    return reply(msgspec.structs.replace(spec, channel=request.app["channel"].address))


@routes.post("/v1/containers/{cid}/poll")
async def poll(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    cid = _own(request)
    req = await decode(request, Poll)
    timeout = query_float(request, "timeout", 0, MAX_WAIT_S)
    lease = await state.scheduler.poll(cid, req.outputs, req.slots, timeout)
    if lease is None:
        return reply(PollReply(stop=True))
    return reply(
        PollReply(stop=False, inputs=[LeasedInput(i.id, i.args, i.call_id) for i in lease])
    )


@routes.post("/v1/containers/{cid}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    return reply(HeartbeatReply(stop=request.app["state"].scheduler.heartbeat(_own(request))))


@routes.post("/v1/containers/{cid}/failed")
async def failed(request: web.Request) -> web.Response:
    cid = _own(request)
    req = await decode(request, ContainerFailed)
    request.app["state"].scheduler.container_failed(cid, req.traceback)
    return reply({})


@routes.post("/v1/containers/{cid}/probe")
async def probe(request: web.Request) -> web.Response:
    cid = _own(request)
    request.app["state"].scheduler.probe_result(cid, await decode(request, ProbeResult))
    return reply({})
