"""The server's web front (``server/web_front.py``) at the protocol level, with raw sockets
against real containers: plain requests answered straight from the socket, everything else on
the same connection handed to aiohttp, and HTTP/1.1's rules kept on both paths."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools
import httpx
import pytest
import web_front_app

TIMEOUT = 120.0


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _Reader:
    """Responses parsed from a socket, in order."""

    def __init__(self, sock: socket.socket, head_only: bool = False) -> None:
        self.sock = sock
        self.done: list[Answer] = []
        self.parser = httptools.HttpResponseParser(self)
        self.current = Answer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.current.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        self.done.append(self.current)
        self.current = Answer()

    def read(self, n: int) -> list[Answer]:
        while len(self.done) < n:
            data = self.sock.recv(65536)
            assert data, f"the server closed the connection after {len(self.done)} answer(s)"
            self.parser.feed_data(data)
        out, self.done = self.done[:n], self.done[n:]
        return out


@pytest.fixture(scope="module")
def endpoint(server):
    with web_front_app.app.run():
        url = web_front_app.echo.get_web_url()
        # the first request starts the container (and goes through aiohttp while it waits)
        assert httpx.get(url, timeout=TIMEOUT).status_code == 200
        yield url


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)


def _get(path: str, host: str = "gw.test", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def test_headers_are_forwarded_less_hop_by_hop_ones(endpoint):
    r = httpx.post(
        endpoint + "/p?q=1",
        content=b"x" * 1000,
        headers={
            "X-Forwarded-For": "10.0.0.1",
            "X-Forwarded-Prefix": "/spoofed",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Modal-Key": "never-forwarded",
            "X-Kept": "yes",
        },
        timeout=TIMEOUT,
    )
    assert r.status_code == 200 and r.headers["x-echo"] == "yes"
    seen = r.json()
    headers = dict(seen["headers"])
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/p", "q=1")
    assert seen["body_sha256"] == hashlib.sha256(b"x" * 1000).hexdigest()
    assert headers["x-kept"] == "yes"
    assert headers["content-length"] == "1000"
    assert headers["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    label = urlsplit(endpoint).path
    assert headers["x-forwarded-prefix"] == label  # the client's own is replaced
    assert not {"keep-alive", "te", "modal-key", "transfer-encoding"} & set(headers)


def test_pipelined_requests_are_answered_in_order(endpoint):
    path = urlsplit(endpoint).path
    with _connect(endpoint) as sock:
        sock.sendall(b"".join(_get(f"{path}/{i}") for i in range(3)))
        answers = _Reader(sock).read(3)
    assert [json.loads(a.body)["path"] for a in answers] == ["/0", "/1", "/2"]


def test_one_connection_carries_web_and_api_requests(endpoint):
    path = urlsplit(endpoint).path
    with _connect(endpoint) as sock:
        reader = _Reader(sock)
        sock.sendall(_get(f"{path}/first"))
        assert json.loads(reader.read(1)[0].body)["path"] == "/first"
        sock.sendall(_get("/v1/health"))  # the API's: the connection goes to aiohttp
        assert reader.read(1)[0].status == 200
        sock.sendall(_get(f"{path}/after"))  # aiohttp's gateway path serves it now
        after = reader.read(1)[0]
    assert after.status == 200 and json.loads(after.body)["path"] == "/after"


def test_http10_and_malformed_requests(endpoint):
    path = urlsplit(endpoint).path
    with _connect(endpoint) as sock:
        sock.sendall(f"GET {path}/old HTTP/1.0\r\n\r\n".encode())
        old = _Reader(sock).read(1)[0]
    assert old.status == 200 and json.loads(old.body)["path"] == "/old"
    with _connect(endpoint) as sock:
        sock.sendall(b"GET /web/x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
        assert _Reader(sock).read(1)[0].status == 400


def test_a_client_waiting_for_100_continue_is_told_to_go_on(endpoint):
    path = urlsplit(endpoint).path
    body = b"z" * 2_000_000  # over the web front's inline limit, as curl's uploads with Expect
    head = (
        f"POST {path}/up HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    with _connect(endpoint) as sock:
        sock.sendall(head.encode())
        sock.settimeout(5)  # a client that gets no 100 waits a second, then sends anyway
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.settimeout(TIMEOUT)
        sock.sendall(body)
        answer = _Reader(sock).read(1)[0]
    assert answer.status == 200
    assert json.loads(answer.body)["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_connection_close_is_kept(endpoint):
    path = urlsplit(endpoint).path
    with _connect(endpoint) as sock:
        sock.sendall(_get(f"{path}/bye", extra="Connection: close\r\n"))
        answer = _Reader(sock).read(1)[0]
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert sock.recv(100) == b""  # closed after the answer


def test_streamed_head_and_redirect_answers(endpoint):
    with httpx.stream("GET", endpoint + "/stream", timeout=TIMEOUT) as r:
        assert r.headers["transfer-encoding"] == "chunked"
        assert b"".join(r.iter_raw()) == b"piece 0;piece 1;piece 2;end"
    head = httpx.head(endpoint + "/h", timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    moved = httpx.get(endpoint + "/moved", timeout=TIMEOUT)
    assert moved.status_code == 307
    # under path routing the app's own absolute path is the path under its prefix
    assert moved.headers["location"] == urlsplit(endpoint).path + "/elsewhere"


def test_a_client_going_away_gives_its_slot_back(endpoint):
    url = web_front_app.single.get_web_url()
    assert httpx.get(url, timeout=TIMEOUT).text == "free"  # its one container is up
    with _connect(url) as sock:
        sock.sendall(_get(urlsplit(url).path + "/hold"))
        time.sleep(0.5)  # in flight in the container, holding the one slot
    # gone: the slot is free again at once, though the container still runs /hold
    assert httpx.get(url, timeout=10).text == "free"


def test_a_large_answer_streams_whole(endpoint):
    """20 MiB, more than the gateway buffers from the container: read slowly, then quickly."""
    expected = b"".join(hashlib.sha256(b"%d" % i).digest() * (1 << 15) for i in range(20))
    with httpx.stream("GET", endpoint + "/big", timeout=TIMEOUT) as r:
        got = bytearray()
        for chunk in r.iter_raw():
            got += chunk
            if len(got) < 4 << 20:
                time.sleep(0.01)  # a slow reader: the gateway must stop reading the container
    assert len(got) == len(expected)
    assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest()


def test_unknown_endpoint_is_404_and_reveals_nothing(endpoint):
    parts = urlsplit(endpoint)
    r = httpx.get(f"{parts.scheme}://{parts.netloc}/web/no-such-label/x", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.text == "404: no web endpoint at this URL\n"
