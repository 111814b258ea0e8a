"""The trivial web endpoint of the gateway benchmark. Containers import this module by name, and
``uvicorn web_bench_app:asgi`` serves the same app directly."""

from __future__ import annotations

from typing import Any

import gworker_client as gw

app = gw.App("bench-web")
BODY = b'{"ok":true}'


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: one JSON body for any request (lifespan accepted)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


@app.function()
@gw.asgi_app()
def trivial() -> Any:
    return asgi
