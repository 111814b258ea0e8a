"""Web servers on one port, each container in a network of its own: two replicas of one
function and a second app, all on port 8000 (``tests/e2e/test_web_netns.py``). Each answers
with its app's letter and its container's id, so a test can tell who answered."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gworker_client as gw

PORT = 8000

app = gw.App("web-netns-a")
other = gw.App("web-netns-b")


def _connect(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=3) as c:
            return "got " + c.recv(10).decode()
    except OSError as e:
        return "refused " + type(e).__name__


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/slow":  # holds the container, so the autoscaler starts another
            time.sleep(float(query.get("s", "2")))
        if url.path == "/connect":
            body = _connect(query["host"], int(query["port"]))
        elif url.path == "/fetch":  # a URL of an app, from inside the container
            with urllib.request.urlopen(query["url"], timeout=60) as r:
                body = r.read().decode()
        elif url.path == "/resolv":
            with open("/etc/resolv.conf") as f:
                body = f.read()
        else:
            body = f"{self.server.letter}:{os.environ['MODAL_TASK_ID']}"  # type: ignore[attr-defined]
        data = body.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _serve(letter: str, host: str) -> None:
    server = ThreadingHTTPServer((host, PORT), _Handler)
    server.letter = letter  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()


@app.function(max_containers=2, scaledown_window=60)
@gw.concurrent(max_inputs=1)  # a request in flight fills a container: a second one starts
@gw.web_server(PORT, startup_timeout=30)
def replicas() -> None:
    _serve("a", "127.0.0.1")  # loopback only, as many examples bind


@other.function()
@gw.web_server(PORT, startup_timeout=30)
def same_port() -> None:
    _serve("b", "0.0.0.0")
