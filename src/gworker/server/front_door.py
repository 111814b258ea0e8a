"""The server's one request handler: it tells a sandbox tunnel's or a web endpoint's request from
the control plane's own API before anything else looks at it.

Web traffic is the server's hottest path and needs none of the API's machinery: the router (which
finds no route for ``/web/...`` or a Host-routed path, and builds a 404 and a fresh middleware
chain for every such miss), the msgpack error replies, the dashboard, the token check. Deciding
here, once, sends a web request straight to ``tunnels.py`` or ``gateway.py``; every other request
goes on to the aiohttp application (router, then middlewares) unchanged. Tunnels are asked first:
their labels (``tn-`` and 20 hex digits) are never an endpoint's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from .gateway import Gateway
from .tunnels import Tunnels

log = logging.getLogger("gworker.gateway")
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
# What a public web client sees of a bug in the gateway: nothing about the server's insides.
INTERNAL = "500: internal error in the gworker gateway\n"


def front_door(tunnels: Tunnels, gateway: Gateway, api: Handler) -> Handler:
    """The handler for every request: tunnels, then web endpoints, then ``api`` (the
    application's own handler)."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        assert isinstance(request, web.Request)  # the application's request factory made it
        try:
            tunnel = tunnels.resolve(request)
            if tunnel is not None:
                return await tunnels.respond(request, tunnel)
            endpoint = gateway.resolve(request)
            if endpoint is not None:
                return await gateway.respond(request, endpoint)
        except web.HTTPException:
            raise  # aiohttp answers these as they say
        except Exception:
            log.exception("unhandled error in web request %s %s", request.method, request.path)
            return web.Response(status=500, text=INTERNAL)
        return await api(request)

    return handle
