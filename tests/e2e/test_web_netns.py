"""A web server's container has a network of its own: replicas of one ``@web_server(8000)``
function, and another app's server on 8000, each answer for themselves; outbound traffic leaves
through slirp4netns, and the host's loopback (the control plane's port, other containers'
forwards) stays out of reach.

The outbound destination lives in a network namespace this test creates (a veth pair to the
host), so no traffic leaves the machine."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import web_netns_app

from veth import listening_namespace

PORT = 7071


@pytest.fixture(scope="module")
def destination() -> Iterator[str]:
    """An address in a namespace of the test's own, listening on PORT."""
    with listening_namespace(PORT) as (address,):
        yield address


def test_two_replicas_on_one_port_serve_at_once(server):
    with web_netns_app.app.run():
        url = web_netns_app.replicas.get_web_url()
        assert url.endswith("/web/web-netns-a-replicas-dev")
        assert httpx.get(url, timeout=120).text.startswith("a:ct-")
        # slow requests in flight hold the first container: the autoscaler starts the second,
        # which listens on the same port 8000 in its own network
        answered: set[str] = set()
        deadline = time.monotonic() + 180
        with ThreadPoolExecutor(4) as pool:
            while len(answered) < 2 and time.monotonic() < deadline:
                slow = [pool.submit(httpx.get, url + "/slow?s=2", timeout=120) for _ in range(4)]
                for f in slow:
                    r = f.result()
                    assert r.status_code == 200, r.text
                    answered.add(r.text)
        assert len(answered) == 2, answered
        assert all(a.startswith("a:ct-") for a in answered)
        stats = web_netns_app.replicas.get_current_stats()
        assert stats.num_total_runners == 2


def test_two_apps_on_one_port_answer_separately(server):
    with web_netns_app.app.run(), web_netns_app.other.run():
        a, b = web_netns_app.replicas.get_web_url(), web_netns_app.same_port.get_web_url()
        assert a != b
        for _ in range(3):  # both running: each request reaches its own app's server
            assert httpx.get(a, timeout=120).text.startswith("a:ct-")
            assert httpx.get(b, timeout=120).text.startswith("b:ct-")
        # from inside a container, a web URL works as anywhere (through the gateway)
        fetched = httpx.get(b + "/fetch", params={"url": a}, timeout=120)
        assert fetched.text.startswith("a:ct-"), fetched.text


def test_outbound_network_but_not_the_hosts_loopback(server, destination):
    loopback = socket.create_server(("127.0.0.1", 0))
    try:
        with web_netns_app.other.run():
            url = web_netns_app.same_port.get_web_url()
            resolv = httpx.get(url + "/resolv", timeout=120).text
            assert "nameserver" in resolv  # the host's resolver, reached through slirp4netns
            out = httpx.get(url + "/connect", params={"host": destination, "port": PORT})
            assert out.text == "got hi"
            # the host's loopback is out of reach (its own 127.0.0.1:<server port> is the relay
            # to the control plane's socket, test_two_apps_on_one_port_answer_separately)
            targets = [("10.0.2.2", server.port), ("10.0.2.2", loopback.getsockname()[1])]
            targets.append(("127.0.0.1", loopback.getsockname()[1]))
            for host, port in targets:
                r = httpx.get(url + "/connect", params={"host": host, "port": str(port)})
                assert r.text.startswith("refused"), (host, port, r.text)
    finally:
        loopback.close()
