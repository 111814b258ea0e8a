"""The control plane's URL inside a container with a network of its own.

Such a container (a web server's, ``gworker.backends.web_network``) cannot reach the host's
loopback, where ``GW_SERVER_URL`` and so the app's web URLs point; the SDK talks to the control
plane through its unix socket (``GW_SERVER_SOCKET``). So that user code fetching a URL of its
app (``get_web_url()``) works as in any other container, a relay listens on the URL's port on the
container's own loopback and carries each connection to that socket. What it reaches is the
control plane itself, gateway and checks included: never another container's port.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.parse

_CHUNK = 65536


def start(taken: set[int]) -> None:
    """Relay ``GW_SERVER_URL``'s loopback port to ``GW_SERVER_SOCKET``, unless the URL is not on
    loopback or the port is one of the container's own servers' (``taken``)."""
    url = urllib.parse.urlsplit(os.environ.get("GW_SERVER_URL", ""))
    path = os.environ.get("GW_SERVER_SOCKET")
    if not path or url.hostname not in ("127.0.0.1", "localhost") or url.port in taken:
        return
    try:
        listener = socket.create_server(("127.0.0.1", url.port or 80))
    except OSError:
        return
    threading.Thread(target=_accept, args=(listener, path), name="gw-relay", daemon=True).start()


def _accept(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=_relay, args=(client, upstream), daemon=True).start()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Both directions of one connection, then both sockets closed."""
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy until ``src`` ends, then end ``dst``'s writing half."""
    try:
        while data := src.recv(_CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
    with contextlib.suppress(OSError):
        src.shutdown(socket.SHUT_RD)
