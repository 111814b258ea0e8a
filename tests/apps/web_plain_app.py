"""Web endpoints in the default image (no fastapi): a bare ASGI app serves; a fastapi_endpoint
fails at container start with an error that names the fix."""

from __future__ import annotations

import asyncio

import gworker_client as gw

app = gw.App("web-plain")


@app.function(scaledown_window=2)
@gw.asgi_app()
def hello() -> object:
    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello without fastapi"})

    return asgi


@app.function()
@gw.fastapi_endpoint()
def needs_fastapi() -> str:
    return "unreachable: the default image has no fastapi"


@app.function()
@gw.asgi_app()
def slow() -> object:
    started = []

    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body, status = b"answered", 200
        if scope["path"] == "/slow":
            status = 201
            started.append(scope["query_string"])
            # longer than the test server's GW_WEB_TIMEOUT_S (3 s), twice over
            await asyncio.sleep(7)
            body = f"answered after {len(started)} start(s): {scope['query_string'].decode()}"
            body = body.encode()
        headers = [(b"x-slow", b"yes")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return asgi


@app.function()
@gw.web_server(28799, startup_timeout=1)
def never_listens() -> None:
    pass  # starts no server: the container fails to start, naming the port and the timeout
