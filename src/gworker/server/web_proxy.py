"""Forwarding one request to a container's loopback port: HTTP (bodies and responses streamed
both ways, status and headers kept) and WebSockets (messages pumped both ways until either side
closes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from .. import constants as C
from .proxy_auth import KEY_HEADERS, SECRET_HEADERS

# Headers about one hop, never forwarded (RFC 9110 7.6.1), and the proxy-auth credentials, which
# the endpoint's code never sees.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        *KEY_HEADERS,
        *SECRET_HEADERS,
    )
)
WS_HANDSHAKE = frozenset(
    h.lower() for h in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions")
)
LOOPBACK = "127.0.0.1"
# Request bodies up to this size are read whole (one write upstream); larger ones stream.
INLINE_BODY = 1024 * 1024
CHUNK = 256 * 1024


def _filtered(headers: Iterable[tuple[str, str]], drop: frozenset[str]) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers:
        if name.lower() not in drop:
            out.add(name, value)
    return out


def _request_headers(request: web.Request, prefix: str, drop: frozenset[str]) -> CIMultiDict[str]:
    headers = _filtered(request.headers.items(), drop)
    peer = request.remote or ""
    forwarded_for = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{forwarded_for}, {peer}" if forwarded_for else peer
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    if prefix:
        headers["X-Forwarded-Prefix"] = prefix
    return headers


async def _body_stream(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(CHUNK):
        yield chunk


async def request_body(request: web.Request) -> bytes | AsyncIterator[bytes] | None:
    """The body to send upstream: small ones read whole (one write), larger ones streamed."""
    if not request.body_exists:
        return None
    length = request.content_length
    if length is not None and length <= INLINE_BODY:
        return await request.read()
    return _body_stream(request)


async def read_chunk(content: aiohttp.StreamReader, pause: float) -> bytes:
    """The next chunk of a response body (b"" at its end); TimeoutError after ``pause`` s."""
    chunk = content.read_nowait()
    if chunk or content.at_eof():  # a small body is usually in with its headers: no timer
        return chunk
    if sys.version_info >= (3, 11):  # a timer, where wait_for would start a task per chunk
        async with asyncio.timeout(pause):
            return await content.readany()
    return await asyncio.wait_for(content.readany(), pause)


async def send_http(
    session: aiohttp.ClientSession,
    request: web.Request,
    port: int,
    path: str,
    prefix: str,
    data: bytes | AsyncIterator[bytes] | None,
    *,
    host: str = LOOPBACK,
    extra_headers: Mapping[str, str] | None = None,
) -> aiohttp.ClientResponse:
    """Send ``request`` to ``host:port`` (a loopback port, or a node's relay, which needs
    ``extra_headers``: ``backends/web_relay.py``) at ``path``; the upstream response once its
    headers are in. No time limit here: the gateway decides how long to wait for it (and may
    let it run on for a poll, see ``web_results.py``)."""
    headers = _request_headers(request, prefix, HOP_BY_HOP)
    if extra_headers:
        headers.update(extra_headers)
    return await session.request(
        request.method,
        f"http://{host}:{port}{path}",
        headers=headers,
        data=data,
        allow_redirects=False,
        auto_decompress=False,
        compress=None,
    )


def located(location: str, request: web.Request, prefix: str) -> str:
    """A redirect's ``Location`` as the client must follow it: under path routing
    (``/web/<label>/...``), an app that redirects to one of its own absolute paths (``/result``,
    or this host's ``http://HOST/result``, as behind Modal's one host per endpoint) means the
    path under its prefix. Locations elsewhere, or already in the gateway's ``/web/`` paths,
    are left as they are."""
    if not prefix:
        return location
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if parts.netloc != request.host or parts.scheme not in ("http", "https"):
            return location
    elif not location.startswith("/") or location.startswith("//"):
        return location  # relative to the request's own path: already right
    if parts.path.startswith("/web/") or parts.path == "/web":
        return location
    return urlunsplit(parts._replace(path=prefix + parts.path))


async def relay_http(
    request: web.Request, upstream: aiohttp.ClientResponse, pause: float, prefix: str = ""
) -> web.StreamResponse:
    """Stream ``upstream``'s answer back to the client; a pause of more than ``pause`` seconds
    between chunks cuts the response off. ``prefix``: the path the endpoint is served under
    (empty under host routing), for its redirects."""
    try:
        headers = _filtered(upstream.headers.items(), HOP_BY_HOP)
        if "Location" in headers:
            headers["Location"] = located(headers["Location"], request, prefix)
        first = await read_chunk(upstream.content, pause)
        if upstream.content.at_eof() and request.method != "HEAD":
            # the whole body is here: one write to the client, with its length
            headers.popall("Content-Length", None)
            return web.Response(
                status=upstream.status, reason=upstream.reason, headers=headers, body=first
            )
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        try:
            if first:
                await response.write(first)
            while True:
                chunk = await read_chunk(upstream.content, pause)
                if not chunk:
                    break
                await response.write(chunk)
            await response.write_eof()
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError):
            # one side went away mid-body: drop the client's connection, so it sees a cut-off
            # body rather than a complete one
            if request.transport is not None:
                request.transport.close()
        return response
    finally:
        upstream.release()


def web_timeout() -> float:
    """How long a web request may wait for its response to start (``GW_WEB_TIMEOUT_S``)."""
    return float(os.environ.get("GW_WEB_TIMEOUT_S") or C.WEB_TIMEOUT_S)


class UpstreamSession:
    """One pooled HTTP client to loopback ports (containers' web servers, sandboxes' ports),
    made on first use: bodies pass through undecoded and no header is added."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
                # one client for every endpoint: a cookie one app sets must never reach another
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def forward_websocket(
    session: aiohttp.ClientSession,
    request: web.Request,
    port: int,
    path: str,
    prefix: str,
    *,
    host: str = LOOPBACK,
    extra_headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Open the same WebSocket on the container (``host`` and ``extra_headers`` as for
    ``send_http``), then relay messages both ways."""
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    drop = HOP_BY_HOP | WS_HANDSHAKE | {"sec-websocket-protocol", "host"}
    headers = _request_headers(request, prefix, drop)
    headers["Host"] = request.host
    if extra_headers:
        headers.update(extra_headers)
    try:
        upstream = await session.ws_connect(
            f"http://{host}:{port}{path}",
            protocols=protocols,
            headers=headers,
            autoclose=False,
            autoping=True,
            max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10.0),
        )
    except aiohttp.WSServerHandshakeError as e:  # the app refused the WebSocket: say so
        return web.Response(status=e.status, text=e.message or "")
    try:
        ws = web.WebSocketResponse(
            protocols=[upstream.protocol] if upstream.protocol else [],
            autoclose=False,
            max_msg_size=0,
        )
        await ws.prepare(request)
        pumps = [
            asyncio.ensure_future(_pump(ws, upstream)),
            asyncio.ensure_future(_pump(upstream, ws)),
        ]
        done, rest = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in rest:
            task.cancel()
        for task in rest:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        code = next((t.result() for t in done if t.exception() is None), None) or 1000
        for side in (ws, upstream):
            with contextlib.suppress(Exception):
                await side.close(code=code)
        return ws
    finally:
        if not upstream.closed:
            await upstream.close()


async def _pump(source: Any, sink: Any) -> int | None:
    """Relay ``source``'s messages to ``sink``; return the close code when ``source`` closes."""
    async for msg in source:
        if msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.CLOSE:
            return int(msg.data or 1000)
        else:  # CLOSING, CLOSED or ERROR: the connection is gone
            break
    return source.close_code
