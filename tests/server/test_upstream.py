"""The gateway's upstream client against scripted HTTP servers on loopback: framing of both
directions, connection reuse, and every way an upstream can end an exchange badly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gworker.server import upstream as upstream_module
from gworker.server.upstream import Upstream, UpstreamError, UpstreamResponse

# a scripted server: given each request's raw bytes (head and body as received), what to send
Script = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


async def _serve(script: Script) -> tuple[asyncio.Server, int, list[int]]:
    """A server answering each request by ``script``; the list counts its connections."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = b""
                lower = head.lower()
                if b"content-length:" in lower:
                    n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
                    body = await reader.readexactly(n)
                elif b"transfer-encoding: chunked" in lower:
                    body = await reader.readuntil(b"0\r\n\r\n")
                await script(head + body, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], connections


async def _body(response: UpstreamResponse) -> bytes:
    out = b""
    while chunk := await response.read_chunk(5):
        out += chunk
    response.release()
    return out


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def _get(client: Upstream, port: int, method: bytes = b"GET", body=None, length=None):
    return await client.request(
        "127.0.0.1", port, method, b"/x", [(b"Host", b"h")], body, length=length
    )


def test_keep_alive_connections_are_reused_and_bodies_framed() -> None:
    seen: list[bytes] = []

    async def script(raw: bytes, w: asyncio.StreamWriter) -> None:
        seen.append(raw)
        w.write(_ok(b"hello"))

    async def test() -> None:
        server, port, connections = await _serve(script)
        client = Upstream()
        for _ in range(3):
            assert await _body(await _get(client, port)) == b"hello"
        r = await _get(client, port, b"POST", b"payload")
        assert (r.status, r.reason, r.content_length) == (200, "OK", 5)
        await _body(r)
        assert len(connections) == 1
        assert seen[0] == b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
        assert seen[3].endswith(b"Content-Length: 7\r\n\r\npayload")
        await client.close()
        server.close()

    _run(test)


def test_streamed_request_bodies_are_chunked_or_sized() -> None:
    seen: list[bytes] = []

    async def script(raw: bytes, w: asyncio.StreamWriter) -> None:
        seen.append(raw)
        w.write(_ok(b""))

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"ab", b"", b"cde"):
            yield part

    async def test() -> None:
        server, port, _ = await _serve(script)
        client = Upstream()
        await _body(await _get(client, port, b"PUT", parts()))
        await _body(await _get(client, port, b"PUT", parts(), length=5))
        await _body(await _get(client, port, b"POST"))

        async def broken() -> AsyncIterator[bytes]:
            yield b"ab"
            raise ConnectionResetError("the client went away mid-upload")

        with pytest.raises(UpstreamError, match="body broke off"):
            await _get(client, port, b"PUT", broken())
        assert len(seen) == 3  # the upstream never saw a whole request
        assert seen[0].endswith(
            b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
        )
        assert seen[1].endswith(b"Content-Length: 5\r\n\r\nabcde")
        assert seen[2].endswith(b"Content-Length: 0\r\n\r\n")  # a POST without a body says so
        await client.close()
        server.close()

    _run(test)


def test_chunked_close_delimited_interim_and_head_answers() -> None:
    async def script(raw: bytes, w: asyncio.StreamWriter) -> None:
        path = raw.split(b" ")[1]
        if raw.startswith(b"HEAD"):
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n")
        elif path == b"/chunked":
            w.write(b"HTTP/1.1 201 Made\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            await w.drain()
            await asyncio.sleep(0.05)
            w.write(b"2\r\nde\r\n0\r\n\r\n")
        elif path == b"/interim":
            w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + _ok(b"final"))
        else:  # no length: the body ends with the connection
            w.write(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
            await w.drain()
            w.close()

    async def request(client: Upstream, port: int, method: bytes, path: bytes):
        return await client.request("127.0.0.1", port, method, path, [(b"Host", b"h")], None)

    async def test() -> None:
        server, port, connections = await _serve(script)
        client = Upstream()
        r = await request(client, port, b"GET", b"/chunked")
        assert (r.status, r.reason) == (201, "Made")
        assert await _body(r) == b"abcde"
        r = await request(client, port, b"GET", b"/interim")
        assert r.status == 200 and await _body(r) == b"final"
        r = await request(client, port, b"HEAD", b"/")
        assert r.content_length == 999 and await _body(r) == b""  # not waited for
        r = await request(client, port, b"GET", b"/close")
        assert await _body(r) == b"until the end"
        # the HEAD's connection was not reused (its parser would take the next answer for a
        # body), nor the close-delimited one
        assert len(connections) == 2
        await client.close()
        server.close()

    _run(test)


def test_a_reused_connection_closing_under_a_request() -> None:
    """The server closes a kept connection as the next request arrives, answering nothing: an
    idempotent request is sent again on a new connection, a POST is not (it may have run)."""
    per_connection: dict[int, int] = {}
    answered: list[bytes] = []

    async def script(raw: bytes, w: asyncio.StreamWriter) -> None:
        n = per_connection[id(w)] = per_connection.get(id(w), 0) + 1
        if n > 1:
            w.close()
            return
        answered.append(raw.split(b" ")[0])
        w.write(_ok(b"ok"))

    async def test() -> None:
        server, port, connections = await _serve(script)
        client = Upstream()
        assert await _body(await _get(client, port)) == b"ok"
        assert await _body(await _get(client, port)) == b"ok"  # sent again: answered
        assert len(connections) == 2 and answered == [b"GET", b"GET"]
        with pytest.raises(UpstreamError, match="closed the connection"):
            await _get(client, port, b"POST", b"once")
        assert answered == [b"GET", b"GET"] and len(connections) == 2
        await client.close()
        server.close()

    _run(test)


def test_malformed_refused_timed_out_and_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    async def script(raw: bytes, w: asyncio.StreamWriter) -> None:
        path = raw.split(b" ")[1]
        if path == b"/bad":
            w.write(b"NOT HTTP AT ALL\r\n\r\n")
        elif path == b"/slow":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
        else:
            w.write(_ok(b"fine"))

    async def request(client: Upstream, port: int, path: bytes):
        return await client.request("127.0.0.1", port, b"GET", path, [(b"Host", b"h")], None)

    async def test() -> None:
        server, port, connections = await _serve(script)
        client = Upstream()
        with pytest.raises(UpstreamError, match="not valid HTTP"):
            await request(client, port, b"/bad")
        r = await request(client, port, b"/slow")
        assert await r.read_chunk(5) == b"12345"
        with pytest.raises(asyncio.TimeoutError):
            await r.read_chunk(0.1)  # the rest never comes
        r.release()  # an unread body: the connection is closed, not reused
        monkeypatch.setattr(upstream_module, "IDLE_S", 0.0)
        before = len(connections)
        assert await _body(await request(client, port, b"/")) == b"fine"
        assert await _body(await request(client, port, b"/")) == b"fine"
        assert len(connections) == before + 2  # idle past IDLE_S: never reused
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamError, match="could not connect"):
            await request(client, port, b"/")
        await client.close()

    _run(test)


def test_a_server_closing_every_connection_at_once() -> None:
    """As a port forward with nothing listening behind it does: each request fails cleanly."""

    async def shut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def test() -> None:
        server = await asyncio.start_server(shut, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = Upstream()
        for pause in (0, 0.05):  # closed before the request is written, and after
            connected = client._connect

            async def slow_connect(key, connected=connected, pause=pause):
                conn = await connected(key)
                await asyncio.sleep(pause)
                return conn

            client._connect = slow_connect  # type: ignore[method-assign]
            with pytest.raises(UpstreamError, match="closed the connection"):
                await _get(client, port)
            client._connect = connected  # type: ignore[method-assign]
        await client.close()
        server.close()

    _run(test)
