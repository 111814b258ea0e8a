"""A minimal HTTP/1.1 keep-alive connection: one request in one ``send``, one response parsed.

``http.client`` costs a warm call about a third of its client-side time: it writes the headers
and the body in two ``send`` calls (two TCP segments, two wake-ups of the server) and parses
response headers through the ``email`` package. The control plane answers every request with a
``Content-Length`` body, so this client needs little more than that, plus chunked bodies and
close-delimited ones for completeness.
"""

from __future__ import annotations

import socket
import ssl

# Bodies up to this size are copied into the request head's buffer so that one ``send`` carries
# the whole request; larger ones go in a second ``sendall`` instead of being copied.
_COALESCE_BYTES = 256 * 1024
_RECV_BYTES = 256 * 1024


class ProtocolError(ConnectionError):
    """The server's answer is not the HTTP/1.1 this client speaks; the connection is dropped."""


class Connection:
    """One persistent connection to ``host:port``, or to the unix socket ``unix`` (a
    container without a network reaches the control plane so); not thread-safe (one per
    thread)."""

    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext | None, unix: str | None = None
    ) -> None:
        self._addr = (host, port)
        self._unix = unix
        self._tls = tls
        self._sock: socket.socket | None = None
        self._timeout: float | None = None
        self._buf = bytearray()
        # a request on a connection that served others before may meet one the server closed
        # while it was idle: the caller may then retry at once on a fresh connection
        self.reused = False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()
        self.reused = False

    def _socket(self, timeout: float) -> socket.socket:
        sock = self._sock
        if sock is None:
            sock = connect(self._unix or self._addr, timeout)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._addr[0])
            self._sock, self._timeout, self.reused = sock, timeout, False
        elif timeout != self._timeout:
            sock.settimeout(timeout)
            self._timeout = timeout
        return sock

    def exchange(self, head: bytes, body: bytes | None, timeout: float) -> tuple[int, bytes]:
        """Send a request (``head`` ends with the blank line) and return ``(status, body)``."""
        sock = self._socket(timeout)
        if body is None or len(body) <= _COALESCE_BYTES:
            sock.sendall(head + body if body else head)
        else:
            sock.sendall(head)
            sock.sendall(body)
        status, headers = self._read_head(sock)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = self._read_chunked(sock)
        elif "content-length" in headers:
            data = self._read_exact(sock, int(headers["content-length"]))
        elif status in (204, 304):
            data = b""
        else:  # delimited by the server closing the connection
            data = self._read_to_eof(sock)
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        else:
            self.reused = True
        return status, data

    def _fill(self, sock: socket.socket) -> None:
        chunk = sock.recv(_RECV_BYTES)
        if not chunk:
            raise ProtocolError("the server closed the connection")
        self._buf += chunk

    def _read_head(self, sock: socket.socket) -> tuple[int, dict[str, str]]:
        buf = self._buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > 65536:
                raise ProtocolError("response headers longer than 64 KiB")
            self._fill(sock)
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad HTTP status line {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def _read_exact(self, sock: socket.socket, n: int) -> bytes:
        buf = self._buf
        if len(buf) < n:
            # read straight into one buffer of the final size: a 1 MiB body is not re-copied
            out = bytearray(n)
            view = memoryview(out)
            have = len(buf)
            view[:have] = buf
            buf.clear()
            while have < n:
                got = sock.recv_into(view[have:], n - have)
                if not got:
                    raise ProtocolError("the server closed the connection mid-response")
                have += got
            return bytes(out)
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def _read_line(self, sock: socket.socket) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            self._fill(sock)
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _read_chunked(self, sock: socket.socket) -> bytes:
        out = bytearray()
        while True:
            size = int(self._read_line(sock).split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line(sock):  # trailers end with an empty line
                    pass
                return bytes(out)
            out += self._read_exact(sock, size)
            self._read_line(sock)

    def _read_to_eof(self, sock: socket.socket) -> bytes:
        while chunk := sock.recv(_RECV_BYTES):
            self._buf += chunk
        data = bytes(self._buf)
        self._buf.clear()
        return data


def connect(address: tuple[str, int] | str, timeout: float) -> socket.socket:
    """A socket connected to ``address``: ``(host, port)`` over TCP (no Nagle delay), or a unix
    socket's path (a container without a network reaches the control plane so)."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock
    sock = socket.create_connection(address, timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
