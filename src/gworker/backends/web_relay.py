"""A container's web ports, reached by the control plane's gateway when the container runs on
another machine (a Ray node).

A container's web server listens on its node's loopback only (``_runtime/web.py``), so nothing
on the network reaches it directly. Each container on a Ray node gets a relay instead: a small
HTTP server its node actor (``ray_node.py``) runs on the node's address, on a port of its own.
The relay answers only requests that carry the container's relay secret, a random token the
control plane made for this container, handed to the actor through Ray and held nowhere else,
and forwards each to the loopback port the request names, with ``web_proxy``'s own functions:
bodies and responses streamed both ways, WebSockets relayed message by message. The gateway
sends a request for such a container to ``(node address, relay port)`` with the secret and the
port in two headers (``base.WebRelay.headers``); the relay strips them, so the container's code
never sees them. The port is the control plane's to name: the secret's only other holder is the
actor, and the control plane can start any code on the node anyway.

Why a relay of HTTP requests rather than a raw TCP pipe: the secret travels with every request,
so the gateway's pooled connections to a node need no handshake of their own and serve every
port of the container, and the gateway's streaming, WebSocket, large-body and ``303`` poll
behaviour is unchanged (it is the same code on both hops). A relayed request's
``X-Forwarded-For`` also names the control plane's address, as any proxy hop does.
"""

from __future__ import annotations

import hmac
import logging
import socket

import aiohttp
from aiohttp import web

from ..server.upstream import Upstream
from ..server.web_proxy import (
    forward_websocket,
    relay_http,
    request_body,
    send_http,
)
from .base import PORT_HEADER, SECRET_HEADER

log = logging.getLogger("gworker.backends.web_relay")

# The gateway times a response's pauses itself (and drops its connection after one too long,
# which ends the relayed request here too): the relay's own limit only frees a request whose
# gateway vanished without closing its connection.
RELAY_PAUSE_S = 3600.0


class RelayServer:
    """The relay of one container: ``start`` listens on the node's address, ``close`` stops."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._upstream = Upstream()
        self._runner: web.AppRunner | None = None

    async def start(self, host: str) -> int:
        """Listen on ``host`` (a port of its own); return the port."""
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        # a gateway that goes away ends its relayed request here too
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        await web.SockSite(self._runner, sock).start()
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._upstream.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return web.Response(
                status=403,
                text="403: this is a gworker container's relay; only its control plane's gateway"
                " may use it\n",
            )
        raw = request.headers.get(PORT_HEADER, "")
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            return web.Response(
                status=400, text=f"400: {PORT_HEADER} {raw!r} must be a port 1-65535\n"
            )
        port = int(raw)
        headers = request.headers.copy()
        for name in (SECRET_HEADER, PORT_HEADER):
            headers.popall(name, None)
        forwarded = request.clone(headers=headers)
        path = request.raw_path
        try:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await forward_websocket(
                    self._upstream.websockets(), forwarded, port, path, ""
                )
            data = await request_body(forwarded)
            upstream = await send_http(self._upstream, forwarded, port, path, "", data)
        except (aiohttp.ClientError, ConnectionError) as e:
            log.info("relaying to port %d failed: %r", port, e)
            return web.Response(
                status=502, text=f"502: the container's port {port} closed the connection\n"
            )
        return await relay_http(forwarded, upstream, RELAY_PAUSE_S)
