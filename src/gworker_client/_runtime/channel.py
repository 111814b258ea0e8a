"""The container's side of the container channel (see ``gworker.server.channel``).

Polls go over one persistent socket per thread as length-prefixed msgpack frames: TCP to the
spec's ``channel`` address, or the unix socket ``GW_CHANNEL_SOCKET`` names in a container
without a network (``block_network``). Any failure
of the channel (the server restarting, a server without one) sends that poll over HTTP instead,
whose client retries across a restart; the channel is tried again on the next poll. A poll is
safe to send twice: outputs of inputs the server no longer holds leased are ignored, and a lease
whose answer was lost is handed out again.
"""

from __future__ import annotations

import os
import struct
import threading
from typing import Any

import msgpack

from .. import _api, _config
from .. import exception as exc
from .._http import connect
from .._protocol.limits import MAX_REQUEST_BYTES

HEADER = struct.Struct(">I")
_RECV_BYTES = 256 * 1024


class _Socket:
    """One authenticated connection; not thread-safe."""

    def __init__(self, address: tuple[str, int] | str, container_id: str, token: str) -> None:
        self.sock = connect(address, 30)
        self.buf = bytearray()
        try:
            reply = self.exchange({"container_id": container_id, "token": token}, 30)
        except BaseException:
            self.close()
            raise
        if "error" in reply:
            self.close()
            raise exc.AuthError(reply["error"]["message"])

    def close(self) -> None:
        self.sock.close()

    def exchange(self, value: Any, timeout: float) -> Any:
        body = msgpack.packb(value, use_bin_type=True)
        self.sock.settimeout(timeout)
        self.sock.sendall(HEADER.pack(len(body)) + body)
        (size,) = HEADER.unpack(self._take(HEADER.size))
        return msgpack.unpackb(self._take(size), raw=False)

    def _take(self, n: int) -> bytes:
        buf = self.buf
        while len(buf) < n:
            chunk = self.sock.recv(max(_RECV_BYTES, n - len(buf)))
            if not chunk:
                raise ConnectionResetError("the server closed the container channel")
            buf += chunk
        data = bytes(buf[:n])
        del buf[:n]
        return data


# One poll carries at most this much output data, well inside the server's request limit.
OUTPUTS_PER_POLL_BYTES = MAX_REQUEST_BYTES // 4


class Channel:
    """A container's polls: over the channel when the server offers one, else over HTTP."""

    def __init__(self, client: _api.Client, container_id: str, address: str | None) -> None:
        self.client = client
        self.container_id = container_id
        # GW_CHANNEL_SOCKET: the channel's unix socket, bound into a container without a network
        unix = os.environ.get("GW_CHANNEL_SOCKET")
        self.address: tuple[str, int] | str | None = unix or (_parse(address) if address else None)
        self.token = (_config.credentials_from_env() or _config.Credentials("", "")).token_secret
        self._local = threading.local()

    def poll(self, outputs: list[list[Any]], slots: int, wait: float) -> dict[str, Any]:
        """Hand in ``outputs``; take up to ``slots`` inputs, waiting up to ``wait`` seconds.
        Outputs past one request's limit (a large batch of large results) go ahead in polls
        of their own that take nothing."""
        size = 0
        for n, output in enumerate(outputs):
            size += len(output[2])
            if n and size > OUTPUTS_PER_POLL_BYTES:
                self._poll(outputs[:n], 0, 0)
                return self.poll(outputs[n:], slots, wait)
        return self._poll(outputs, slots, wait)

    def _poll(self, outputs: list[list[Any]], slots: int, wait: float) -> dict[str, Any]:
        request = {"outputs": outputs, "slots": slots, "timeout": wait}
        if self.address is not None:
            try:
                reply = self._socket().exchange(request, wait + 30)
            except (OSError, ValueError, msgpack.UnpackException):
                self._drop()
            else:
                if "error" in reply:
                    raise self.client._error(0, reply)
                return reply  # type: ignore[no-any-return]
        return self.client.post(  # type: ignore[no-any-return]
            f"/v1/containers/{self.container_id}/poll?timeout={wait}",
            {"outputs": outputs, "slots": slots},
            timeout=wait + 30,
        )

    def _socket(self) -> _Socket:
        sock: _Socket | None = getattr(self._local, "sock", None)
        if sock is None:
            assert self.address is not None
            sock = self._local.sock = _Socket(self.address, self.container_id, self.token)
        return sock

    def _drop(self) -> None:
        sock: _Socket | None = getattr(self._local, "sock", None)
        if sock is not None:
            sock.close()
            self._local.sock = None


def _parse(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)
