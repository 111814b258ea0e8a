"""Listeners in a network namespace a test creates, joined to the host by a veth pair: a
destination for outbound traffic that never leaves the machine. Needs root and iproute2, which
``make test`` provides (``scripts/install-system-deps``)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def _listen(port: int) -> str:
    return (
        "import socket\n"
        f"s = socket.create_server(('0.0.0.0', {port}))\n"
        "print('listening', flush=True)\n"
        "while True:\n"
        "    c, _ = s.accept(); c.sendall(b'hi'); c.close()\n"
    )


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@contextmanager
def listening_namespace(port: int, count: int = 1) -> Iterator[list[str]]:
    """``count`` addresses in a fresh namespace, each answering ``hi`` on ``port``."""
    assert os.geteuid() == 0, "a network namespace for the destination needs root"
    assert shutil.which("ip"), "a network namespace for the destination needs iproute2 (ip)"
    tag = f"{random.randrange(16**6):06x}"
    net = f"10.{random.randrange(200, 250)}.{random.randrange(256)}"
    ns, host_if, ns_if = f"gwt-{tag}", f"gwh{tag}", f"gwn{tag}"
    addresses = [f"{net}.{2 + i}" for i in range(count)]
    _sh("ip", "netns", "add", ns)
    listener = None
    try:
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
        _sh("ip", "addr", "add", f"{net}.1/24", "dev", host_if)
        _sh("ip", "link", "set", host_if, "up")
        for addr in addresses:
            _sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ns_if)
        _sh("ip", "-n", ns, "link", "set", ns_if, "up")
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", "-c", _listen(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout is not None
        assert listener.stdout.readline() == "listening\n"  # it has bound its port
        yield addresses
    finally:
        if listener:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
