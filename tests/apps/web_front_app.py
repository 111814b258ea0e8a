"""A bare ASGI echo (the default image, no fastapi) for tests/e2e/test_web_front.py: what the
container received, and a body streamed in pieces."""

from __future__ import annotations

import asyncio
import hashlib
import json

import gworker_client as gw

app = gw.App("web-front")


@app.function()
@gw.asgi_app()
def echo() -> object:
    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(3):
                await send(
                    {"type": "http.response.body", "body": b"piece %d;" % i, "more_body": True}
                )
                await asyncio.sleep(0.05)
            await send({"type": "http.response.body", "body": b"end"})
            return
        if scope["path"] == "/big":  # 20 MiB in 1 MiB pieces, each as fast as it is taken
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(20):
                piece = hashlib.sha256(b"%d" % i).digest() * (1 << 15)
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/moved":
            headers = [(b"location", b"/elsewhere"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 307, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        seen = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        out = json.dumps(seen).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(out)).encode()),
            (b"x-echo", b"yes"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    return asgi


@app.function(max_containers=1)
@gw.concurrent(max_inputs=1)
@gw.asgi_app()
def single() -> object:
    """One request at a time, in one container: ``/hold`` keeps its slot for a while."""

    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        if scope["path"] == "/hold":
            await asyncio.sleep(30)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"free"})

    return asgi
