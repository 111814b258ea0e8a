"""API routes for web endpoints: a container reports the ports it serves them on, the SDK asks
for an endpoint's URL, a user creates a proxy-auth token."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from .errors import InvalidRequest, NotFound, Unauthorized
from .gateway import Gateway
from .http import body, reply
from .state import State

routes = web.RouteTableDef()
# How long a container's report of its web ports waits for its placement (see report_ports).
PLACEMENT_WAIT_S = 60.0


def gateway(request: web.Request) -> Gateway:
    gw: Gateway = request.app["gateway"]
    return gw


@routes.post("/v1/containers/{cid}/web")
async def report_ports(request: web.Request) -> web.Response:
    """``{"ports": {endpoint name or "": port}}``: the container's endpoints now listen."""
    cid = request.match_info["cid"]
    if request.get("identity") != ("container", cid):
        raise Unauthorized(f"only container {cid} may use this route")
    ports = (await body(request)).get("ports")
    if not isinstance(ports, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and 1 <= v <= 65535 for k, v in ports.items()
    ):
        raise InvalidRequest(f"ports {ports!r} must map endpoint names to ports 1-65535")
    state: State = request.app["state"]
    c = state.scheduler.container(cid)
    # its web ports are reached where the backend placed it (a Ray node's relay): a container
    # that reports them before its placement came back waits for it
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(c.placed.wait(), PLACEMENT_WAIT_S)
    if not c.placed.is_set():
        raise NotFound(f"container {cid} was never placed by the backend")
    # a container in a network of its own reports its own ports: the gateway reaches each
    # through the host port the backend forwards to it
    ports = {name: c.forwards.get(port, port) for name, port in ports.items()}
    gateway(request).container_ready(c, ports)
    return reply({})


@routes.get("/v1/functions/{fid}/web")
async def web_url(request: web.Request) -> web.Response:
    """The URL of a function's (or a class method's, ``?method=``) web endpoint."""
    fid, method = request.match_info["fid"], request.query.get("method") or None
    table = gateway(request).table
    endpoint = table.endpoint_of(fid, method)
    if endpoint is None:
        state: State = request.app["state"]
        row = state.store.function(fid)
        if row is None:
            raise NotFound(f"function {fid} does not exist")
        name = f"{row['tag']}.{method}" if method else row["tag"]
        if not row["live"]:
            raise NotFound(f"{name!r} is not running (its app was stopped), so it has no URL")
        raise InvalidRequest(
            f"{name!r} is not a web endpoint; decorate it with @gw.fastapi_endpoint(),"
            " @gw.asgi_app(), @gw.wsgi_app() or @gw.web_server(port)"
        )
    return reply({"url": table.url(endpoint), "label": endpoint.label})


@routes.post("/v1/tokens/proxy")
async def create_proxy_token(request: web.Request) -> web.Response:
    if request["identity"][0] != "user":
        raise Unauthorized("containers cannot create proxy-auth tokens")
    token_id, secret = gateway(request).tokens.create()
    return reply({"token_id": token_id, "token_secret": secret})
