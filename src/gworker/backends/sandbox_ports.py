"""A sandbox's ports, reachable from the host: slirp4netns forwards a host address to the
sandbox's own address (10.0.2.100) on one port, asked through slirp4netns's API socket.

Each forward listens on a port of the host chosen here, on loopback for ports the gateway
serves (``encrypted_ports``: only the gateway knows the port) or on the server's own address for
raw TCP (``unencrypted_ports``). A forward reaches the sandbox's one port and nothing else: the
sandbox's namespace is on the other side of the user-mode stack, never the host's loopback.
"""

from __future__ import annotations

import asyncio
import json
import socket

ATTEMPTS = 5  # a chosen free port can be taken by someone else before slirp4netns binds it


class ForwardError(Exception):
    """A port forward could not be set up (slirp4netns refused it, or could not be asked)."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def _call(api_socket: str, request: dict[str, object]) -> dict[str, object]:
    reader, writer = await asyncio.open_unix_connection(api_socket)
    try:
        writer.write(json.dumps(request).encode())
        await writer.drain()
        writer.write_eof()
        raw = await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
    answer: dict[str, object] = json.loads(raw or b"{}")
    return answer


async def add_forward(api_socket: str, guest_port: int, host_addr: str) -> int:
    """Forward ``host_addr:<a free port>`` to the sandbox's ``guest_port``; returns the port.
    ``host_addr`` is an IPv4 literal (slirp4netns takes no names). Every failure is a
    ``ForwardError``: the caller ends the sandbox on it."""
    problem: object = None
    for _ in range(ATTEMPTS):
        try:
            host_port = _free_port(host_addr)
            args = {"proto": "tcp", "host_addr": host_addr, "host_port": host_port}
            request: dict[str, object] = {
                "execute": "add_hostfwd",
                "arguments": {**args, "guest_port": guest_port},
            }
            answer = await _call(api_socket, request)
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            raise ForwardError(
                f"could not forward port {guest_port} on {host_addr}: {e or type(e).__name__}"
            ) from None
        if "return" in answer:
            return host_port
        problem = answer.get("error", answer)
    raise ForwardError(f"slirp4netns could not forward port {guest_port}: {problem}")
