"""Load generators for the gateway benchmark: each opens keep-alive HTTP/1.1 connections to one
URL and sends the same GET, checking every answer (status 200 and the exact body).

``RawClient`` is a lean one, in the spirit of wrk: the request's bytes are built once, and an
answer is checked by its status line, its Content-Length and its body, with no HTTP library. On
a small machine the load generator shares the cores with what it measures; a heavy one (an
aiohttp client spends about as much CPU per request as uvicorn does serving it) takes the most
from the side with more processes to run, here the gateway with its container. ``AiohttpClient``
is kept to compare with (``--client aiohttp``).
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp


class Client(Protocol):
    async def get(self, slot: int) -> None:
        """One GET on connection ``slot`` (0 to the client's concurrency - 1)."""

    async def close(self) -> None: ...


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``get`` sends the request and waits for its checked answer."""

    def __init__(self, request: bytes, body: bytes) -> None:
        self.request = request
        self.body = body
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        if start < 0:
            return self._fail(f"an answer without Content-Length: {head[:300]!r}")
        length = int(head[start + 17 :].split(b"\r\n", 1)[0])
        if len(self.buffer) < end + 4 + length:
            return  # the rest of the body is on its way
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        if not head.startswith(b"http/1.1 200 ") or body != self.body:
            return self._fail(f"unexpected answer: {head[:300]!r} {body[:200]!r}")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"the server closed the connection ({exc!r})")

    def _fail(self, why: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(AssertionError(why))

    async def get(self) -> None:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(self.request)
        await self.waiter


class RawClient:
    def __init__(self, connections: list[_Connection]) -> None:
        self.connections = connections

    @classmethod
    async def open(cls, url: str, body: bytes, concurrency: int) -> RawClient:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
        loop = asyncio.get_running_loop()
        connections = []
        for _ in range(concurrency):
            _, conn = await loop.create_connection(lambda: _Connection(request, body), host, port)
            connections.append(conn)
        return cls(connections)

    async def get(self, slot: int) -> None:
        await self.connections[slot].get()

    async def close(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()


class AiohttpClient:
    def __init__(self, url: str, body: bytes, concurrency: int) -> None:
        self.url = url
        self.body = body
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def get(self, slot: int) -> None:
        async with self.session.get(self.url) as r:
            body = await r.read()
            if r.status != 200 or body != self.body:
                raise AssertionError(f"GET {self.url}: {r.status} {body[:200]!r}")

    async def close(self) -> None:
        await self.session.close()


CLIENTS = ("raw", "aiohttp")


async def open_client(kind: str, url: str, body: bytes, concurrency: int) -> Client:
    if kind == "raw":
        return await RawClient.open(url, body, concurrency)
    if kind == "aiohttp":
        return AiohttpClient(url, body, concurrency)
    raise ValueError(f"client {kind!r} is not one of {', '.join(CLIENTS)}")
