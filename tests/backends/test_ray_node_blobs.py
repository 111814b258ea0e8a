"""A Ray node that does not see the control plane's blob store fetches layer archives over HTTP
with the container's token (``ray_node._blob_fetcher``): a pure unit, no Ray."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgpack
import pytest

from gworker.backends.launch import LaunchError
from gworker.backends.ray_node import _blob_fetcher

ARCHIVE = b"layer archive bytes" * 1000
SHA = "ab" * 32


@pytest.fixture
def blob_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != "Bearer ct-1:secret":
                self.send_response(401)
                self.end_headers()
                return
            if self.path != f"/v1/blobs/{SHA}":
                self.send_response(404)
                self.end_headers()
                return
            body = msgpack.packb(ARCHIVE)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _env(url: str, secret: str = "secret") -> dict[str, str]:
    return {"GW_SERVER_URL": url, "GW_TOKEN_ID": "ct-1", "GW_TOKEN_SECRET": secret}


def test_a_layer_archive_comes_over_http_with_the_containers_token(blob_server, tmp_path: Path):
    dest = tmp_path / "archive.tar"
    _blob_fetcher(_env(blob_server))(SHA, dest)
    assert dest.read_bytes() == ARCHIVE


def test_a_refused_fetch_names_the_archive_and_the_server(blob_server, tmp_path: Path):
    with pytest.raises(LaunchError, match=rf"layer archive {SHA[:12]} from {blob_server}.*401"):
        _blob_fetcher(_env(blob_server, secret="wrong"))(SHA, tmp_path / "archive.tar")
