"""Forwarding one request to a container's loopback port: HTTP (bodies and responses streamed
both ways, status and headers kept, through the gateway's own client: ``upstream.py``) and
WebSockets (messages pumped both ways until either side closes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from .. import constants as C
from .proxy_auth import KEY_HEADERS, SECRET_HEADERS
from .upstream import Upstream, UpstreamResponse

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
# Not forwarded as the client sent them: replaced by this hop's own (X-Forwarded-Prefix only
# where the endpoint is served under a path prefix; a relay's hop keeps the gateway's), framed
# anew by the upstream client (Content-Length), or already answered (Expect: ``request_body``
# sends "100 Continue").
REPLACED = frozenset(
    h.encode()
    for h in (
        *HOP_BY_HOP,
        "content-length",
        "expect",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    )
)
REPLACED_WITH_PREFIX = REPLACED | {b"x-forwarded-prefix"}
WS_HANDSHAKE = frozenset(
    h.lower() for h in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions")
)
LOOPBACK = "127.0.0.1"
# Request bodies up to this size are read whole (one write upstream); larger ones stream.
INLINE_BODY = 1024 * 1024
CHUNK = 256 * 1024


def header_bytes(text: str) -> bytes:
    """A header's (or a path's) text as it came on the wire: aiohttp decodes with
    surrogateescape, and so do the web front and the upstream client (``header_text``)."""
    return text.encode("utf-8", "surrogateescape")


def header_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _forwarded_for(request: web.Request) -> str:
    peer = request.remote or ""
    before = request.headers.get("X-Forwarded-For")
    return f"{before}, {peer}" if before else peer


def _ws_headers(request: web.Request, prefix: str) -> CIMultiDict[str]:
    """A WebSocket handshake's headers for the upstream (aiohttp's client adds its own)."""
    drop = HOP_BY_HOP | WS_HANDSHAKE | {"sec-websocket-protocol", "host"}
    headers = CIMultiDict((n, v) for n, v in request.headers.items() if n.lower() not in drop)
    headers["Host"] = request.host
    headers["X-Forwarded-For"] = _forwarded_for(request)
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    if prefix:
        headers["X-Forwarded-Prefix"] = prefix
    return headers


def forwarded_headers(
    raw: Iterable[tuple[bytes, bytes]], peer: str, scheme: str, prefix: str, host: bytes = b""
) -> list[tuple[bytes, bytes]]:
    """A request's headers as the client sent them (``raw``), less ``REPLACED``, plus this
    hop's X-Forwarded ones: ``peer`` is the client's address; ``host`` stands in for a missing
    Host header."""
    drop = REPLACED_WITH_PREFIX if prefix else REPLACED
    out = []
    before = b""
    for name, value in raw:
        lower = name.lower()
        if lower not in drop:
            out.append((name, value))
            if lower == b"host":
                host = value
        elif lower == b"x-forwarded-for" and not before:
            before = value
    out.append(
        (
            b"X-Forwarded-For",
            b"%s, %s" % (before, header_bytes(peer)) if before else header_bytes(peer),
        )
    )
    out.append((b"X-Forwarded-Proto", header_bytes(scheme)))
    out.append((b"X-Forwarded-Host", host))
    if prefix:
        out.append((b"X-Forwarded-Prefix", header_bytes(prefix)))
    return out


async def _body_stream(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(CHUNK):
        yield chunk


async def request_body(request: web.Request) -> bytes | AsyncIterator[bytes] | None:
    """The body to send upstream: small ones read whole (one write), larger ones streamed. A
    client waiting for "100 Continue" (``Expect: 100-continue``) is told to go on first, as
    aiohttp's router would (the front door comes before it)."""
    if not request.body_exists:
        return None
    if request.version == (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not started
    length = request.content_length
    if length is not None and length <= INLINE_BODY:
        return await request.read()
    return _body_stream(request)


async def send_http(
    upstream: Upstream,
    request: web.Request,
    port: int,
    path: str,
    prefix: str,
    data: bytes | AsyncIterator[bytes] | None,
    *,
    host: str = LOOPBACK,
    extra_headers: Mapping[str, str] | None = None,
) -> UpstreamResponse:
    """Send ``request`` to ``host:port`` (a loopback port, or a node's relay, which needs
    ``extra_headers``: ``backends/web_relay.py``) at ``path``; the upstream response once its
    headers are in. No time limit here: the gateway decides how long to wait for it (and may
    let it run on for a poll, see ``web_results.py``)."""
    headers = forwarded_headers(
        request.raw_headers,
        request.remote or "",
        request.scheme,
        prefix,
        header_bytes(request.host),
    )
    if "Host" not in request.headers:  # an HTTP/1.0 client's request: HTTP/1.1 needs one
        headers.append((b"Host", b"%s:%d" % (host.encode(), port)))
    if extra_headers:
        headers.extend(
            (header_bytes(name), header_bytes(value)) for name, value in extra_headers.items()
        )
    length = None if isinstance(data, bytes) else request.content_length
    return await upstream.request(
        host, port, header_bytes(request.method), header_bytes(path), headers, data, length=length
    )


def located(location: str, host: str, prefix: str) -> str:
    """A redirect's ``Location`` as the client must follow it: under path routing
    (``/web/<label>/...``), an app that redirects to one of its own absolute paths (``/result``,
    or this host's ``http://HOST/result``, as behind Modal's one host per endpoint) means the
    path under its prefix. Locations elsewhere, or already in the gateway's ``/web/`` paths,
    are left as they are."""
    if not prefix:
        return location
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if parts.netloc != host or parts.scheme not in ("http", "https"):
            return location
    elif not location.startswith("/") or location.startswith("//"):
        return location  # relative to the request's own path: already right
    if parts.path.startswith("/web/") or parts.path == "/web":
        return location
    return urlunsplit(parts._replace(path=prefix + parts.path))


def answer_headers(upstream: UpstreamResponse, host: str, prefix: str) -> list[tuple[str, str]]:
    """The headers of ``upstream``'s answer as the client gets them: hop-by-hop ones and the
    Content-Length dropped (whoever writes the body frames it), and a redirect's Location as
    the client must follow it (``located``)."""
    out = []
    for name, value in upstream.headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower == "content-length":
            continue
        out.append((name, located(value, host, prefix) if lower == "location" else value))
    return out


async def relay_http(
    request: web.Request, upstream: UpstreamResponse, pause: float, prefix: str = ""
) -> web.StreamResponse:
    """Stream ``upstream``'s answer back to the client; a pause of more than ``pause`` seconds
    between chunks cuts the response off. ``prefix``: the path the endpoint is served under
    (empty under host routing), for its redirects."""
    try:
        headers = CIMultiDict(answer_headers(upstream, request.host, prefix))
        first = await upstream.read_chunk(pause)
        if upstream.at_eof and request.method != "HEAD":
            # the whole body is here: one write to the client, with its length
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
                chunk = await upstream.read_chunk(pause)
                if not chunk:
                    break
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionError, asyncio.TimeoutError):
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
    headers = _ws_headers(request, prefix)
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
