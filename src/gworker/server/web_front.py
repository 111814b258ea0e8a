"""The server's port, where every client connection starts: web endpoints' plain requests are
served here, straight from the socket, and everything else goes to aiohttp.

A request for a web endpoint is answered here when it is whole and plain: HTTP/1.1 with a Host
header, a body of at most ``INLINE_BODY`` bytes framed by Content-Length (or none), no Upgrade or
Expect, valid proxy-auth headers if the endpoint asks for them, no result poll, and a container
with a free slot right now. Its head is parsed by httptools, it goes to the container through
the gateway's own client (``upstream.py``), and the answer is written back with its status and
headers (less the hop-by-hop ones), as one write when the container's whole answer is in,
streamed otherwise. With this path and the client, the control plane's CPU time per proxied
request is about half what aiohttp's server and client cost (``benchmarks/README.md``).

Any other request hands its connection, with every byte read from it so far, to aiohttp's
request handler, which from then on owns the connection as if it had accepted it: the API and
the dashboard, tunnels, and the web requests ``gateway.py`` serves (WebSockets, large or chunked
bodies, proxy-auth refusals, result polls, requests that wait for a container to start,
HTTP/1.0, and anything malformed, which aiohttp answers with its usual 400). Both paths share the
gateway's routing, slots, timeout and result URLs, so a client sees one behaviour.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools
from multidict import CIMultiDict

from .draining import DRAINING
from .front_door import INTERNAL
from .gateway import Gateway, Unavailable, upstream_of
from .scheduler.state import Container, FunctionState
from .upstream import FlowControlled, UpstreamResponse
from .web_proxy import (
    INLINE_BODY,
    answer_headers,
    forwarded_headers,
    header_bytes,
    header_text,
)
from .web_results import RESULT_PARAM
from .web_table import Endpoint

log = logging.getLogger("gworker.gateway")

MAX_HEAD = 64 * 1024  # a longer head goes to aiohttp, which refuses it
# as aiohttp's server keeps an idle connection (longer than load balancers keep theirs)
KEEP_ALIVE_S = 3630.0
_RESULT_QUERY = RESULT_PARAM.encode() + b"="
_NO_BODY_STATUSES = frozenset((204, 304))


@dataclass
class _Head:
    method: bytes
    target: bytes  # path and query, as sent
    host: bytes
    headers: list[tuple[bytes, bytes]]
    length: int  # of the body
    size: int  # of the head, in bytes
    keep_alive: bool


@dataclass
class _Route:
    fs: FunctionState
    c: Container  # a slot on it is taken for the request
    endpoint: Endpoint
    path: str
    prefix: str
    released: bool = False  # the slot is given back, or handed on to a result URL


class WebFront:
    """The protocol factory of the server's listening socket; ``api`` makes aiohttp's handler
    for a connection this path hands over."""

    def __init__(self, gateway: Gateway, api: Callable[[], asyncio.Protocol]) -> None:
        self.gateway = gateway
        self.api = api
        self.clients: set[_Client] = set()

    def __call__(self) -> _Client:
        return _Client(self)

    async def shutdown(self, grace: float) -> None:
        """Close idle connections now and the rest once their request ends (``grace`` s at
        most)."""
        for client in list(self.clients):
            if client.task is None:
                client.close()
        busy = [c.task for c in self.clients if c.task is not None]
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for client in list(self.clients):
            client.close()


class _Client(FlowControlled):
    """One client connection, until it ends or is handed to aiohttp."""

    def __init__(self, front: WebFront) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.buffer = bytearray()
        self.head: _Head | None = None  # the parsed head of the request being received
        self.task: asyncio.Task[None] | None = None  # the request being served
        self.started = False  # its response's head is written
        self.keep_alive = True  # the connection outlives the request being served
        self.reading_paused = False
        self.idle: asyncio.TimerHandle | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else ""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # as aiohttp does
        self.front.clients.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.task is None:
            self._take()
        elif len(self.buffer) > MAX_HEAD + INLINE_BODY:  # a client sending ahead
            self._pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.clients.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        if self.task is not None:
            self.task.cancel()  # releases the slot, abandons the upstream request
        self.end_writes(ConnectionResetError("the client went away"))

    # -- httptools callbacks (heads only) ----------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    # -- taking requests ---------------------------------------------------------------------------

    def _take(self) -> None:
        """Serve the request at the buffer's start once it is whole, or hand the connection
        to aiohttp if it is not this path's."""
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._hand_over()
                return
            self.head = self._parse(end + 4)
            if self.head is None:
                self._hand_over()
                return
        head = self.head
        whole = head.size + head.length
        if len(self.buffer) < whole:
            return  # the rest of its body is on its way
        route = self._route(head)
        if route is None:
            self._hand_over()
            return
        body = bytes(self.buffer[head.size : whole]) if head.length else None
        del self.buffer[:whole]
        self.head = None
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        self.started = False
        self.keep_alive = head.keep_alive
        self.task = asyncio.get_running_loop().create_task(self._serve(head, body, route))
        self.task.add_done_callback(functools.partial(self._served, route))

    def _parse(self, size: int) -> _Head | None:
        """The head of ``size`` bytes at the buffer's start, if it is this path's."""
        self._url, self._headers = b"", []
        parser = httptools.HttpRequestParser(self)
        try:
            parser.feed_data(bytes(self.buffer[:size]))
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return None
        if parser.get_http_version() != "1.1":
            return None
        host, length, keep_alive = b"", 0, True
        for name, value in self._headers:
            lower = name.lower()
            if lower == b"host":
                host = value
            elif lower == b"connection":
                keep_alive &= b"close" not in [t.strip() for t in value.lower().split(b",")]
            elif lower == b"content-length":
                length = int(value)  # llhttp accepts digits only, and one value
            elif lower in (b"transfer-encoding", b"upgrade", b"expect"):
                return None
        if not host or length > INLINE_BODY:
            return None
        return _Head(
            parser.get_method(),
            self._url,
            host,
            self._headers,
            length,
            size,
            keep_alive,
        )

    def _route(self, head: _Head) -> _Route | None:
        """The endpoint and a container slot for ``head``, if this path serves it now."""
        if DRAINING.stopping or not head.target.startswith(b"/") or _RESULT_QUERY in head.target:
            return None  # stopping (aiohttp's path says so), an absolute form, a result poll
        gateway = self.front.gateway
        target = header_text(head.target)
        found = gateway.resolve_target(target, header_text(head.host))
        if found is None:
            return None
        endpoint, path, prefix = found
        if endpoint is None:
            return None
        if endpoint.config.requires_proxy_auth and not gateway.tokens.allows(
            CIMultiDict((n.decode("latin-1"), v.decode("latin-1")) for n, v in head.headers)
        ):
            return None  # aiohttp's path refuses it, as it always did
        fs = gateway.scheduler.web_function(endpoint.function_id)
        if fs is None:
            return None
        c = gateway.take_slot(fs, endpoint)
        return None if c is None else _Route(fs, c, endpoint, path, prefix)

    def _hand_over(self) -> None:
        """Give this connection, and what was read from it, to aiohttp."""
        transport = self.transport
        assert transport is not None and self.task is None
        self.front.clients.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        handler = self.front.api()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self.buffer:
            handler.data_received(bytes(self.buffer))
        if self.reading_paused:
            transport.resume_reading()

    # -- serving one request -----------------------------------------------------------------------

    async def _serve(self, head: _Head, body: bytes | None, route: _Route) -> None:
        gateway = self.front.gateway
        fs, c, endpoint = route.fs, route.c, route.endpoint
        try:
            host, port, relay_headers = upstream_of(c, c.web_ports[endpoint.key])
            headers = forwarded_headers(head.headers, self.peer, "http", route.prefix)
            if relay_headers:
                headers.extend((n.encode(), v.encode()) for n, v in relay_headers.items())
            target = header_bytes(route.path)
            sent = gateway.upstream.request(host, port, head.method, target, headers, body)
            raw_path = header_text(head.target)
            deadline = time.monotonic() + gateway.timeout
            outcome = await gateway.exchange(fs, c, endpoint, sent, deadline, raw_path, True)
            if isinstance(outcome, str):
                route.released = True  # the result URL's to release once the response is in
                self._answer(
                    303,
                    f"303: still running; the result will be at {outcome}\n",
                    (b"Location", header_bytes(outcome)),
                )
                return
            await self._relay(head, outcome, route)
        except Unavailable as e:
            self._answer(e.status, e.text)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            log.exception("unhandled error in web request %s", head.target[:200])
            if self.started:
                self.close()
            else:
                self._answer(500, INTERNAL)
        finally:
            self._release(route)
        # the next request waits until the client takes this answer: a client that pipelines
        # requests and reads nothing has nothing more read from it, nor answered
        await self.drain()

    async def _relay(self, head: _Head, upstream: UpstreamResponse, route: _Route) -> None:
        """Write ``upstream``'s answer to the client: one write if it is all in, else its body
        streamed as it comes, cut off (the connection closed) by a pause over the timeout."""
        gateway = self.front.gateway
        try:
            try:
                first = await upstream.read_chunk(gateway.timeout)
            except asyncio.TimeoutError:
                raise gateway.no_body(route.endpoint) from None
            except ConnectionError as e:
                raise gateway.closed(route.endpoint, e) from None
            out = [b"HTTP/1.1 %d %s\r\n" % (upstream.status, upstream.reason.encode("latin-1"))]
            headers = answer_headers(upstream, header_text(head.host), route.prefix)
            out += [b"%s: %s\r\n" % (n.encode("latin-1"), header_bytes(v)) for n, v in headers]
            if not self.keep_alive:
                out.append(b"Connection: close\r\n")
            status, length = upstream.status, upstream.content_length
            if head.method == b"HEAD" or status in _NO_BODY_STATUSES or status < 200:
                if length is not None and status != 204:
                    out.append(b"Content-Length: %d\r\n" % length)
                self._write((*out, b"\r\n"))
                return
            if upstream.at_eof:
                self._write((*out, b"Content-Length: %d\r\n\r\n" % len(first), first))
                return
            await self._stream(out, first, upstream, length)
        finally:
            upstream.release()

    async def _stream(
        self, out: list[bytes], first: bytes, upstream: UpstreamResponse, length: int | None
    ) -> None:
        chunked = length is None
        if length is None:
            out.append(b"Transfer-Encoding: chunked\r\n\r\n")
        else:
            out.append(b"Content-Length: %d\r\n\r\n" % length)
        self._write(out)
        chunk = first
        try:
            while True:
                if chunk:
                    self._write((b"%x\r\n" % len(chunk), chunk, b"\r\n") if chunked else (chunk,))
                    await self.drain()
                chunk = await upstream.read_chunk(self.front.gateway.timeout)
                if not chunk:
                    break
            if chunked:
                self._write((b"0\r\n\r\n",))
        except (ConnectionError, asyncio.TimeoutError):
            # one side went away mid-body: the client must see a cut-off body, not a whole one
            self.close()

    # -- writing and closing -----------------------------------------------------------------------

    def _write(self, parts: tuple[bytes, ...] | list[bytes]) -> None:
        self.started = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(parts)

    def _answer(self, status: int, text: str, *extra: tuple[bytes, bytes]) -> None:
        """A short plain-text answer of the gateway's own."""
        if self.started:
            self.close()
            return
        body = text.encode()
        out = [
            b"HTTP/1.1 %d %s\r\n" % (status, http.HTTPStatus(status).phrase.encode()),
            b"Content-Type: text/plain; charset=utf-8\r\n",
            *(b"%s: %s\r\n" % pair for pair in extra),
            *((b"Connection: close\r\n",) if not self.keep_alive else ()),
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        ]
        self._write(out)

    def _release(self, route: _Route) -> None:
        if not route.released:
            route.released = True
            self.front.gateway.release(route.fs, route.c)

    def _served(self, route: _Route, task: asyncio.Task[None]) -> None:
        self._release(route)  # a task cancelled before it started never ran its own finally
        self.task = None
        failed = task.cancelled() or task.exception() is not None  # (a client gone, mostly)
        transport = self.transport
        if failed or transport is None or not self.keep_alive or DRAINING.stopping:
            self.close()
            return
        if transport.is_closing():
            return
        self._arm_idle()
        if self.reading_paused:
            self.reading_paused = False
            transport.resume_reading()
        if self.buffer:
            self._take()

    def _arm_idle(self) -> None:
        self.idle = asyncio.get_running_loop().call_later(KEEP_ALIVE_S, self.close)

    def _pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
