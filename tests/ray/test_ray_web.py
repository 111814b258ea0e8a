"""Web endpoints of a container on another Ray node, through the gateway: the gateway reaches
the container through its node's relay on the node's address (127.0.0.3 here), never through
the container's loopback port, and the relay answers nobody without the container's secret.

Every node of the test cluster shares this machine's loopback, so a gateway that wrongly sent
requests to 127.0.0.1 would still be answered: which process holds each end of each connection
(read from /proc) tells the right path from that one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
import ray_web_app
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from gworker_client import _api

GPU_NODE_IP = "127.0.0.3"  # tests/ray_cluster.py: the only node with an A100
TIMEOUT = 120.0


def _sockets() -> list[tuple[tuple[str, int], tuple[str, int], str, int]]:
    """This machine's IPv4 TCP sockets: (local, remote, state, inode)."""
    out = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()

        def address(text: str) -> tuple[str, int]:
            ip, port = text.split(":")
            return socket.inet_ntoa(bytes.fromhex(ip)[::-1]), int(port, 16)

        out.append((address(fields[1]), address(fields[2]), fields[3], int(fields[9])))
    return out


def _holders(inodes: set[int]) -> dict[int, int]:
    """Socket inode -> the pid of a process holding it (those this user may look at)."""
    wanted = {f"socket:[{i}]": i for i in inodes}
    found: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target in wanted:
                        found[wanted[target]] = int(proc.name)
    return found


def test_an_endpoint_on_another_node_is_reached_through_its_relay(on_ray):
    with ray_web_app.app.run():
        url = ray_web_app.web.get_web_url()
        who = httpx.get(f"{url}/whoami", timeout=TIMEOUT).json()
        assert who["gpu"] == "A100-80GB"  # on the GPU node
        assert not any(h.startswith("x-gworker-relay") for h in who["headers"])
        listed = _api.client().get(f"/v1/apps/{ray_web_app.app.app_id}/containers")["containers"]
        assert [c["node"] for c in listed] == [GPU_NODE_IP]

        # the connections to the container's web server come from its Ray actor, which
        # listens on the node's address; the control plane connects to that listener, never to
        # the container's port
        server = tuple(who["server"])
        ends = {inode: (local, remote, state) for local, remote, state, inode in _sockets()}
        holders = _holders(set(ends))
        callers = {
            holders[i] for i, (_, remote, _) in ends.items() if remote == server and i in holders
        }
        assert len(callers) == 1 and on_ray.proc.pid not in callers, callers
        [actor] = callers
        assert b"ContainerActor" in Path(f"/proc/{actor}/cmdline").read_bytes()
        [relay] = [
            local
            for i, (local, _, state) in ends.items()
            if holders.get(i) == actor and state == "0A" and local[0] == GPU_NODE_IP  # LISTEN
        ]
        gateway = {
            remote for i, (_, remote, _) in ends.items() if holders.get(i) == on_ray.proc.pid
        }
        assert relay in gateway

        # the relay answers nobody without the container's secret
        direct = httpx.get(f"http://{relay[0]}:{relay[1]}/whoami", timeout=TIMEOUT)
        assert direct.status_code == 403

        with httpx.stream("GET", f"{url}/stream", timeout=TIMEOUT) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            events = [line for line in r.iter_lines() if line]
        assert events == [f"data: event {i}" for i in range(4)]

        body = os.urandom(8 * 1024 * 1024)  # larger than the gateway reads whole: it streams
        sized = httpx.post(f"{url}/size", content=body, timeout=TIMEOUT).json()
        assert sized == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}

        with connect(f"{url.replace('http://', 'ws://')}/ws", open_timeout=TIMEOUT) as ws:
            for text in ("one", "x" * 100_000):
                ws.send(text)
                assert ws.recv(timeout=TIMEOUT) == f"echo: {text}"
            ws.send("bye")
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=TIMEOUT)


def test_a_slow_response_through_a_relay_is_polled_for(on_ray_short_web_timeout):
    """Past the gateway's timeout (2 s here) the request runs on, through the relay, and the
    client polls a result URL for it (the gateway's 303, as on the local backend)."""
    with ray_web_app.app.run():
        url = ray_web_app.web.get_web_url()
        deadline = time.monotonic() + TIMEOUT
        while httpx.get(f"{url}/whoami", timeout=TIMEOUT).status_code != 200:
            assert time.monotonic() < deadline  # 504 while its container starts
        first = httpx.get(f"{url}/slow?5", timeout=TIMEOUT)
        assert first.status_code == 303
        location = first.headers["location"]
        assert "__modal_function_call_id=wr-" in location
        result_url = url.rsplit("/web/", 1)[0] + location
        done = httpx.get(result_url, timeout=TIMEOUT, follow_redirects=True)
        assert (done.status_code, done.text) == (200, "slept 5")
