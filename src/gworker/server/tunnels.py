"""Tunnels: HTTP and WebSocket traffic to a sandbox's declared ports, through the gateway.

Each port a sandbox declares (``encrypted_ports``/``unencrypted_ports``) gets a random label
(``tn-`` and 20 hex digits, unguessable from the sandbox's id) that names it like a web
endpoint's: by path (``/web/<label>/...``) or by Host header (``<label>.<domain>``). Requests
are forwarded to the loopback port slirp4netns forwards to that one port of the sandbox
(``backends/sandbox_ports.py``); no other host port is ever reachable this way, whatever the
URL says. Tunnels are public, as Modal's are, and end with their sandbox. A request in flight
counts as use of the sandbox for its ``idle_timeout``.

The server's front door (``front_door.py``) asks the tunnels first, ahead of the web endpoints.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from .upstream import Upstream
from .web_proxy import (
    forward_websocket,
    relay_http,
    request_body,
    send_http,
    web_timeout,
)

log = logging.getLogger("gworker.tunnels")
PREFIX = "/web/"
_LABEL = re.compile(r"^tn-[0-9a-f]{20}$")
GONE = "404: no tunnel at this URL (did its sandbox end?)\n"


@dataclass
class Tunnel:
    label: str
    sandbox_id: str
    port: int  # the sandbox's port
    host_port: int  # the loopback port forwarded to it
    tcp_port: int | None  # a raw TCP forward on the server's address (unencrypted ports)
    in_flight: int = 0


class Tunnels:
    def __init__(self) -> None:
        self._by_label: dict[str, Tunnel] = {}
        self.upstream = Upstream()
        self.timeout = web_timeout()  # the gateway's, for the same kind of request
        self.used: Callable[[str], None] = lambda sandbox_id: None  # a request ended

    async def close(self) -> None:
        await self.upstream.close()

    def add(self, sandbox_id: str, port: int, host_port: int, tcp_port: int | None) -> Tunnel:
        label = "tn-" + secrets.token_hex(10)
        tunnel = self._by_label[label] = Tunnel(label, sandbox_id, port, host_port, tcp_port)
        return tunnel

    def of(self, sandbox_id: str) -> list[Tunnel]:
        return [t for t in self._by_label.values() if t.sandbox_id == sandbox_id]

    def in_use(self, sandbox_id: str) -> bool:
        return any(t.in_flight for t in self.of(sandbox_id))

    def remove(self, sandbox_id: str) -> None:
        for t in self.of(sandbox_id):
            del self._by_label[t.label]

    def resolve(self, request: web.Request) -> tuple[Tunnel | None, str, str] | None:
        """The tunnel a request names, by path or by host: only the exact ``tn-<20 hex>`` form
        is a tunnel's (anything else goes on to the web endpoints, in both routings)."""
        raw = request.raw_path
        label = raw[len(PREFIX) :].partition("/")[0].partition("?")[0]
        if raw.startswith(PREFIX) and _LABEL.match(label):
            prefix = PREFIX + label
            rest = raw[len(prefix) :]
            return self._by_label.get(label), rest if rest.startswith("/") else "/" + rest, prefix
        host = (request.host or "").rsplit(":", 1)[0].lower()
        label, dot, _ = host.partition(".")
        if dot and _LABEL.match(label):
            return self._by_label.get(label), raw, ""
        return None

    async def respond(
        self, request: web.Request, found: tuple[Tunnel | None, str, str]
    ) -> web.StreamResponse:
        """Answer a request ``resolve`` found to be a tunnel's."""
        tunnel, path, prefix = found
        if tunnel is None:
            return web.Response(status=404, text=GONE)
        tunnel.in_flight += 1
        try:
            return await self._forward(request, tunnel.host_port, path, prefix)
        except asyncio.TimeoutError:
            return web.Response(status=504, text=f"504: no response within {self.timeout:g}s\n")
        except (aiohttp.ClientError, ConnectionError) as e:
            log.info("tunnel request to %s:%d failed: %r", tunnel.sandbox_id, tunnel.port, e)
            return web.Response(
                status=502,
                text=f"502: nothing answered on port {tunnel.port} of {tunnel.sandbox_id}\n",
            )
        finally:
            tunnel.in_flight -= 1
            self.used(tunnel.sandbox_id)

    async def _forward(
        self, request: web.Request, port: int, path: str, prefix: str
    ) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await forward_websocket(self.upstream.websockets(), request, port, path, prefix)
        data = await request_body(request)
        # the response must start within the timeout; its body may then pause as long between
        # chunks
        upstream = await asyncio.wait_for(
            send_http(self.upstream, request, port, path, prefix, data), self.timeout
        )
        return await relay_http(request, upstream, self.timeout, prefix)
