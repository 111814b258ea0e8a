"""The SDK's HTTP/1.1 connection against scripted loopback servers: body framings, keep-alive,
and a keep-alive connection the server closed while it was idle."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from gworker_client import _api
from gworker_client._http import Connection, ProtocolError

Script = Callable[[socket.socket], None]


def _read_request(conn: socket.socket) -> bytes:
    """One request: its head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@contextmanager
def scripted(*scripts: Script) -> Iterator[int]:
    """A server answering its n-th accepted connection with the n-th script; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for script in scripts:
            conn, _ = listener.accept()
            with conn:
                script(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(timeout=10)
        listener.close()


def _request(path: str = "/x", body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def test_content_length_bodies_on_one_kept_alive_connection():
    big = bytes(range(256)) * 8192  # 2 MiB: read into one buffer in several recv calls

    def script(conn: socket.socket) -> None:
        for body in (b"hello", big):
            assert _read_request(conn).endswith(body)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    with scripted(script) as port:
        c = Connection("127.0.0.1", port, None)
        assert c.exchange(_request(body=b"hello"), None, 5) == (200, b"hello")
        assert c.reused
        head = b"POST /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big)
        assert c.exchange(head, big, 5) == (200, big)
        c.close()


def test_chunked_and_close_delimited_bodies():
    def chunked(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )

    def close_delimited(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")

    with scripted(chunked, close_delimited) as port:
        c = Connection("127.0.0.1", port, None)
        assert c.exchange(_request(), None, 5) == (404, b"abcdefg")
        c.close()
        assert c.exchange(_request(), None, 5) == (200, b"until the end")
        assert not c.reused  # the server said it closes: the next request opens a new one


def test_a_bad_status_line_is_a_protocol_error():
    def script(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"SPDY/9 what\r\n\r\n")

    with scripted(script) as port, pytest.raises(ProtocolError, match="bad HTTP status line"):
        Connection("127.0.0.1", port, None).exchange(_request(), None, 5)


def test_client_resends_once_when_an_idle_connection_was_closed():
    """The server answers one request and closes the connection without saying so; the
    client's next request goes out again, at once, on a new connection."""
    packed = b"\x81\xa2ok\xc3"  # msgpack {"ok": True}
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed

    def answer_then_drop(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(reply)

    def answer(conn: socket.socket) -> None:
        assert b"POST /v1/second" in _read_request(conn)
        conn.sendall(reply)

    with scripted(answer_then_drop, answer) as port:
        client = _api.Client(f"http://127.0.0.1:{port}", None)
        assert client.get("/v1/first") == {"ok": True}
        # not idempotent: only this immediate resend may send it again
        assert client.post("/v1/second", idempotent=False) == {"ok": True}
