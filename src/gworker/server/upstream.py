"""The gateway's HTTP/1.1 client to the web servers it forwards to: containers' and sandboxes'
loopback ports, and Ray nodes' relays.

Every web request takes this path, so it is lean. Connections are kept alive per address and
reused last in, first out; a request's head and a small body leave in one write; responses are
parsed by httptools (llhttp, the parser of uvicorn and Node) from the socket's callbacks straight
into an ``UpstreamResponse``, whose body is read chunk by chunk with back-pressure (past
``HIGH_WATER`` unread bytes the socket is not read). In place of aiohttp's client, it took the
control plane's CPU time per proxied request from about 143 to 108 µs (``benchmarks/README.md``).

A connection is reused only after its response ended cleanly with keep-alive and its request
body was sent whole; one idle for ``IDLE_S`` is closed rather than reused, since servers close
idle connections on their own (gunicorn after 2 s) and a request sent as one closes is lost.
Should that race still happen, an idempotent request (RFC 9110 9.2.2) with a body in hand is
sent once more on a new connection. WebSockets go through aiohttp (``websockets``): long-lived
and framed by messages, they gain nothing here.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterable
from typing import cast

import aiohttp
import httptools

Headers = Iterable[tuple[bytes, bytes]]
Body = bytes | AsyncIterator[bytes] | None

CONNECT_TIMEOUT_S = 10.0
IDLE_S = 1.5
# unread response bytes that stop reading the socket, until the reader takes them
HIGH_WATER = 1024 * 1024
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))
# methods whose requests carry a body by custom: one without says Content-Length: 0
BODY_METHODS = frozenset((b"POST", b"PUT", b"PATCH"))


class UpstreamError(ConnectionError):
    """The upstream could not be reached, closed the connection before its response ended, or
    sent what is not HTTP/1.1."""


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


class UpstreamResponse:
    """One response: status, reason and headers once its head is in; its body read with
    ``read_chunk``; ``release`` once done with it (a body left unread closes the connection)."""

    def __init__(
        self,
        conn: _Connection,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        content_length: int | None,
    ) -> None:
        self._conn: _Connection | None = conn
        self.status = status
        self.reason = reason
        self.headers = headers  # as sent, hop-by-hop ones included
        self.content_length = content_length
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def at_eof(self) -> bool:
        return self._done and not self._chunks

    async def read_chunk(self, pause: float) -> bytes:
        """The body's next bytes (all that arrived since the last read; b"" at its end);
        TimeoutError when none arrive within ``pause`` seconds."""
        if not self._chunks and not self._done and self._error is None:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(pause, _time_out, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._chunks:
            data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
            self._chunks.clear()
            self._buffered = 0
            if self._conn is not None:
                self._conn.resume_reading()
            return data
        if self._error is not None:
            raise self._error
        return b""

    def release(self) -> None:
        """Done with this response: a connection still carrying its body is closed."""
        conn, self._conn = self._conn, None
        if conn is not None and not self._done:
            conn.close()

    # -- fed by the connection ---------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and self._conn is not None:
            self._conn.pause_reading()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if self._done or self._error is not None:
            return
        if error is None:
            self._done = True
        else:
            self._error = error
        self._conn = None
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class FlowControlled(asyncio.Protocol):
    """A protocol whose writers wait (``drain``) while its transport's write buffer is full."""

    _drained: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    async def drain(self) -> None:
        if self._drained is not None:
            await self._drained

    def end_writes(self, error: BaseException | None = None) -> None:
        """The connection is gone: a waiting writer goes on (``error``: is told so)."""
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            if error is None:
                drained.set_result(None)
            else:
                drained.set_exception(error)


class _Connection(FlowControlled):
    """One keep-alive connection, carrying one request at a time."""

    def __init__(self, pool: Upstream, key: tuple[str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.used = False  # has carried a request before this one
        self.idle_since = 0.0
        self.closed = False
        self.reading_paused = False
        self._head: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._head_only = False  # a HEAD request's response: no body, whatever it says
        self._sending = False  # a streamed request body is still being written
        self.sender: asyncio.Future[None] | None = None  # the task writing it
        self.got_bytes = False
        self._reason = b""
        self._headers: list[tuple[str, str]] = []
        self._length: int | None = None

    # -- one exchange ------------------------------------------------------------------------------

    def start(self, head_only: bool) -> asyncio.Future[UpstreamResponse]:
        assert self._head is None and self._response is None, "one request at a time"
        self._head = asyncio.get_running_loop().create_future()
        self._head_only = head_only
        self.got_bytes = False
        self.sender = None
        return self._head

    async def send_stream(self, body: AsyncIterator[bytes], chunked: bool) -> None:
        """Write a streamed request body, waiting whenever the socket's buffer is full."""
        self._sending = True
        try:
            async for chunk in body:
                if self.transport is None or self.closed:
                    return  # the exchange ended without the rest (an early answer, an error)
                if not chunk:
                    continue
                if chunked:
                    self.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                else:
                    self.transport.write(chunk)
                await self.drain()
            if chunked and self.transport is not None and not self.closed:
                self.transport.write(b"0\r\n\r\n")
        except asyncio.CancelledError:
            self.close(UpstreamError("the request was abandoned"))
            raise
        except Exception as e:  # the exchange's waiter is told, through the connection
            # the client's body broke off: the upstream would wait for its rest forever
            self.close(UpstreamError(f"the request body broke off: {e!r}"))
        finally:
            self._sending = False

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self._head is None and self._response is None:
            self.close()  # nothing was asked: not a server to keep talking to
            return
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade, ValueError) as e:
            self.close(UpstreamError(f"the upstream's response is not valid HTTP/1.1: {e}"))

    def eof_received(self) -> bool | None:
        return None  # closes the transport, and connection_lost ends the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        response = self._response
        if response is not None and exc is None and self._length is None and not self._chunked():
            response._finish()  # a body delimited by the connection's end: complete
        self._fail(UpstreamError(f"the upstream closed the connection ({exc or 'EOF'})"))
        self.end_writes()  # the body's writer sees the connection closed, and stops

    # -- httptools callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []
        self._length = None

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 14 and name.lower() == b"content-length":
            self._length = int(value)
        self._headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 or self._head is None:
            return  # an interim response (103 Early Hints, ...): the real one follows
        reason = self._reason.decode("latin-1")
        response = UpstreamResponse(self, status, reason, self._headers, self._length)
        self._response = response
        head, self._head = self._head, None
        if not head.done():
            head.set_result(response)
        if self._head_only:
            # llhttp would read a body of the Content-Length a HEAD's answer names: the next
            # response would be taken for it, so this connection is not reused
            response._finish()
            self.close()

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        response = self._response
        if response is None:
            return  # an interim response ended
        self._response = None
        response._finish()
        if self.parser.should_keep_alive() and not self._sending and not self.closed:
            self.resume_reading()
            self.pool.put_back(self)
        else:
            self.close()

    # -- flow control and closing ------------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def close(self, error: BaseException | None = None) -> None:
        if error is not None:
            self._fail(error)
        if self.transport is not None:
            self.transport.close()
        self.closed = True
        self.pool.forget(self)

    def _fail(self, error: BaseException) -> None:
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_exception(error)
        response, self._response = self._response, None
        if response is not None:
            response._finish(error)

    def _chunked(self) -> bool:
        return any(
            n.lower() == "transfer-encoding" and "chunked" in v.lower() for n, v in self._headers
        )


class Upstream:
    """Pooled connections to the addresses web requests are forwarded to."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._ws_session: aiohttp.ClientSession | None = None

    async def request(
        self,
        host: str,
        port: int,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: Body,
        length: int | None = None,
    ) -> UpstreamResponse:
        """Send one request; its response once the head is in. ``headers`` exclude the
        framing ones, which follow ``body``: bytes get their Content-Length, a stream is sent
        with ``length`` as its Content-Length or chunked. No time limit: the caller decides how
        long to wait."""
        chunked = length is None
        head = [b"%s %s HTTP/1.1\r\n" % (method, target)]
        head.extend(b"%s: %s\r\n" % (name, value) for name, value in headers)
        if isinstance(body, bytes):
            head.append(b"Content-Length: %d\r\n\r\n" % len(body))
        elif body is not None and length is not None:
            head.append(b"Content-Length: %d\r\n\r\n" % length)
        elif body is not None:
            head.append(b"Transfer-Encoding: chunked\r\n\r\n")
        elif method in BODY_METHODS:
            head.append(b"Content-Length: 0\r\n\r\n")
        else:
            head.append(b"\r\n")
        message = [*head, body] if isinstance(body, bytes) and body else head
        replayable = method in IDEMPOTENT and not isinstance(body, AsyncIterator)
        key = (host, port)
        while True:
            conn = self._reused(key) or await self._connect(key)
            transport = conn.transport
            if conn.closed or transport is None or transport.is_closing():
                # closed as it opened: a port forward with nothing listening behind it
                conn.close()
                raise UpstreamError(f"{host}:{port} closed the connection as it opened")
            waiter = conn.start(head_only=method == b"HEAD")
            transport.writelines(message)
            if body is not None and not isinstance(body, bytes):
                conn.sender = asyncio.ensure_future(conn.send_stream(body, chunked))
            try:
                return await waiter
            except BaseException as e:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # cancelled as the response came in: its connection may be back in the
                    # pool already, carrying another request; release closes it only while it
                    # still carries this response's body
                    waiter.result().release()
                else:
                    conn.close()
                if conn.sender is not None:
                    conn.sender.cancel()
                # a reused connection the server was closing as the request left: once more,
                # on a new one, if sending it again cannot do anything twice
                retry = conn.used and replayable and not conn.got_bytes
                if isinstance(e, UpstreamError) and retry:
                    continue
                raise

    def _reused(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        conn = idle.pop()
        if conn.closed or time.monotonic() - conn.idle_since > IDLE_S:
            # the rest of the stack went idle before this one: close them all
            for stale in (conn, *idle):
                stale.close()
            idle.clear()
            return None
        self._busy.add(conn)
        conn.used = True
        return conn

    async def _connect(self, key: tuple[str, int]) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self, key), *key), CONNECT_TIMEOUT_S
            )
        except (OSError, asyncio.TimeoutError) as e:
            raise UpstreamError(f"could not connect to {key[0]}:{key[1]}: {e!r}") from None
        self._busy.add(conn)
        return conn

    def put_back(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        conn.idle_since = time.monotonic()
        self._idle.setdefault(conn.key, []).append(conn)

    def forget(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.key]

    def websockets(self) -> aiohttp.ClientSession:
        """The client for WebSockets, made on first use: no cookie jar (one client for every
        endpoint: a cookie one app sets must never reach another) and no header of its own."""
        if self._ws_session is None:
            self._ws_session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
            )
        return self._ws_session

    async def close(self) -> None:
        for conn in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            conn.close()
        if self._ws_session is not None:
            await self._ws_session.close()
