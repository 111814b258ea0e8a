"""A container's web relay (``backends/web_relay.py``), in this process: a small web server on
loopback stands for the container's endpoint, and the relay forwards only requests that carry
the container's secret, streamed both ways, WebSockets included."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from gworker.backends.base import PORT_HEADER, SECRET_HEADER, WebRelay
from gworker.backends.web_relay import RelayServer

SECRET = "s3cret-of-this-container"


def endpoint_app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        h, total = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(65536):
            h.update(chunk)
            total += len(chunk)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return web.json_response(
            {"path": request.raw_path, "bytes": total, "sha256": h.hexdigest(), "headers": headers}
        )

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(3):
            await response.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(0.05)
        await response.write_eof()
        return response

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for msg in socket:
            await socket.send_str(f"echo: {msg.data}")
        return socket

    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/stream", stream)
    app.router.add_get("/ws", ws)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


Test = Callable[[aiohttp.ClientSession, WebRelay, int], Awaitable[None]]


def run(test: Test) -> None:
    async def main() -> None:
        runner = web.AppRunner(endpoint_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        relay_server = RelayServer(SECRET)
        relay = WebRelay("127.0.0.1", await relay_server.start("127.0.0.1"), SECRET)
        try:
            async with aiohttp.ClientSession() as session:
                await test(session, relay, port)
        finally:
            await relay_server.close()
            await runner.cleanup()

    asyncio.run(main())


def url(relay: WebRelay, path: str) -> str:
    return f"http://{relay.host}:{relay.port}{path}"


def test_requests_without_the_secret_are_refused() -> None:
    async def test(session: aiohttp.ClientSession, relay: WebRelay, port: int) -> None:
        for headers in ({}, {SECRET_HEADER: "wrong", PORT_HEADER: str(port)}):
            async with session.get(url(relay, "/x"), headers=headers) as r:
                assert r.status == 403
                assert "only its control plane's gateway" in await r.text()
        headers = {**relay.headers(port), PORT_HEADER: "http"}
        async with session.get(url(relay, "/x"), headers=headers) as r:
            assert r.status == 400
            assert "'http' must be a port" in await r.text()

    run(test)


def test_a_request_is_forwarded_without_the_relay_headers() -> None:
    async def test(session: aiohttp.ClientSession, relay: WebRelay, port: int) -> None:
        body = os.urandom(3 * 1024 * 1024)  # larger than the proxy reads whole: it streams

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 65536):
                yield body[i : i + 65536]

        headers = {**relay.headers(port), "X-Kept": "yes"}
        async with session.post(url(relay, "/a/b?q=1"), data=chunks(), headers=headers) as r:
            assert r.status == 200
            got = await r.json()
        assert got["path"] == "/a/b?q=1"
        assert got["bytes"] == len(body) and got["sha256"] == hashlib.sha256(body).hexdigest()
        assert got["headers"]["x-kept"] == "yes"
        assert SECRET_HEADER.lower() not in got["headers"]
        assert PORT_HEADER.lower() not in got["headers"]

    run(test)


def test_a_streamed_response_and_a_websocket_pass_through() -> None:
    async def test(session: aiohttp.ClientSession, relay: WebRelay, port: int) -> None:
        async with session.get(url(relay, "/stream"), headers=relay.headers(port)) as r:
            assert r.headers["Content-Type"] == "text/event-stream"
            assert await r.text() == "".join(f"data: {i}\n\n" for i in range(3))
        async with session.ws_connect(url(relay, "/ws"), headers=relay.headers(port)) as ws:
            for text in ("one", "x" * 100_000):
                await ws.send_str(text)
                assert (await ws.receive()).data == f"echo: {text}"

    run(test)


def test_a_port_nothing_listens_on_is_a_502() -> None:
    async def test(session: aiohttp.ClientSession, relay: WebRelay, port: int) -> None:
        async with session.get(url(relay, "/"), headers=relay.headers(1)) as r:
            assert r.status == 502
            assert "port 1 closed the connection" in await r.text()

    run(test)
