"""The endpoints of the web cold-start benchmark (``web_cold_start.py``): a ``@web_server``
(a network of its own per container) and an ``@asgi_app`` (the host's network), both trivial."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import gworker_client as gw

app = gw.App("bench-web-cold")
PORT = 28900


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@app.function(scaledown_window=2)
@gw.web_server(PORT, startup_timeout=30)
def server() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", PORT), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()


@app.function(scaledown_window=2)
@gw.asgi_app()
def asgi() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app
