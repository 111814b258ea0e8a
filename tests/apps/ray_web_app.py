"""A web endpoint and a metered function pinned to the Ray cluster's GPU node (127.0.0.3: the
only node with an A100), for tests/ray/test_ray_web.py and test_ray_usage.py. The endpoint is a
plain ASGI app (no FastAPI needed in the image)."""

import asyncio
import hashlib
import json
import os
import time

import gworker_client as gw

app = gw.App("ray-web")
_held: list[bytes] = []  # memory a metered call keeps while its container lives


async def _lifespan(receive, send):  # type: ignore[no-untyped-def]
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _echo(receive, send):  # type: ignore[no-untyped-def]
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text == "bye":
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "websocket.send", "text": f"echo: {text}"})


async def _answer(send, body: bytes, content_type: bytes = b"application/json") -> None:  # type: ignore[no-untyped-def]
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@app.function(gpu="A100")
@gw.asgi_app()
def web() -> object:
    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] == "websocket":
            return await _echo(receive, send)
        path = scope["path"]
        if path == "/whoami":  # who connected to this container's web server
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            who = {
                "server": list(scope["server"]),
                "headers": headers,
                "gpu": os.environ.get("GW_GPU"),
            }
            return await _answer(send, json.dumps(who).encode())
        if path == "/slow":  # answers after the seconds its query names
            seconds = float(scope["query_string"].decode() or 0)
            await asyncio.sleep(seconds)
            return await _answer(send, f"slept {seconds:g}".encode(), b"text/plain")
        if path == "/size":
            h, total, more = hashlib.sha256(), 0, True
            while more:
                message = await receive()
                chunk = message.get("body", b"")
                h.update(chunk)
                total += len(chunk)
                more = message.get("more_body", False)
            return await _answer(
                send, json.dumps({"bytes": total, "sha256": h.hexdigest()}).encode()
            )
        # /stream: server-sent events, one every 50 ms
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(4):
            body = f"data: event {i}\n\n".encode()
            await send({"type": "http.response.body", "body": body, "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b""})
        return None

    return asgi


@app.function(gpu="A100")
def burn(cpu_s: float, hold_mib: int) -> str:
    """Use ``cpu_s`` seconds of CPU and keep ``hold_mib`` MiB while the container lives."""
    print(f"burning {cpu_s}s of CPU on {os.environ.get('GW_GPU')}", flush=True)
    with open("/tmp/burned", "w") as f:  # the container's own /tmp, for `gw container exec`
        f.write(f"{os.environ.get('GW_GPU')}\n")
    _held.append(os.urandom(hold_mib * 1024 * 1024))
    start = time.process_time()
    while time.process_time() - start < cpu_s:
        pass
    return os.environ["GW_CONTAINER_ID"]
