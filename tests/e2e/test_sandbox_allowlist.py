"""``cidr_allowlist``: outbound connections from a sandbox reach allowed networks only.

Destinations live in a network namespace this test creates (a veth pair to the host), so no
traffic leaves the machine."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import textwrap
import urllib.request
from collections.abc import Iterator

import pytest

import gworker_client as gw
from gworker.backends.sandbox_firewall import ruleset
from gworker_client.exception import InvalidError

PORT = 7070
LISTEN = (
    "import socket\n"
    f"s = socket.create_server(('0.0.0.0', {PORT}))\n"
    "print('listening', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(b'hi'); c.close()\n"
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="creating a network namespace for the destinations needs root and iproute2",
)


@pytest.fixture(scope="module")
def destinations() -> Iterator[tuple[str, str]]:
    """Two addresses in a namespace of the test's own, both listening on PORT."""
    tag = f"{random.randrange(16**6):06x}"
    net = f"10.{random.randrange(200, 250)}.{random.randrange(256)}"
    ns, host_if, ns_if = f"gwt-{tag}", f"gwh{tag}", f"gwn{tag}"
    allowed, other = f"{net}.2", f"{net}.3"

    def sh(*cmd: str) -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    sh("ip", "netns", "add", ns)
    listener = None
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
        sh("ip", "addr", "add", f"{net}.1/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        for addr in (allowed, other):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ns_if)
        sh("ip", "-n", ns, "link", "set", ns_if, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", "-c", LISTEN], stdout=subprocess.PIPE, text=True
        )
        assert listener.stdout is not None
        assert listener.stdout.readline() == "listening\n"  # it has bound its port
        yield allowed, other
    finally:
        if listener:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup("sandbox-allowlist", create_if_missing=True)


def connect(sb: gw.Sandbox, addr: str) -> str:
    code = textwrap.dedent(f"""
        import socket
        try:
            with socket.create_connection(({addr!r}, {PORT}), timeout=5) as c:
                print("got", c.recv(10).decode())
        except OSError as e:
            print("refused", type(e).__name__)
    """)
    return sb.exec("python", "-c", code).stdout.read().strip()


def test_only_allowed_networks_are_reachable(app, destinations):
    allowed, other = destinations
    sb = gw.Sandbox.create(app=app, cidr_allowlist=[f"{allowed}/32"])
    try:
        assert connect(sb, allowed) == "got hi"
        assert connect(sb, other).startswith("refused")
        # the sandbox cannot lift the rules: it has no capabilities in its namespace
        p = sb.exec("nft", "flush", "ruleset")
        assert p.wait() != 0
        assert connect(sb, other).startswith("refused")
    finally:
        sb.terminate()


def test_without_an_allowlist_both_are_reachable(app, destinations):
    allowed, other = destinations
    sb = gw.Sandbox.create(app=app)
    try:
        assert connect(sb, allowed) == "got hi"
        assert connect(sb, other) == "got hi"
    finally:
        sb.terminate()


def test_an_empty_allowlist_allows_nothing(app, destinations):
    sb = gw.Sandbox.create(app=app, cidr_allowlist=[])
    try:
        assert connect(sb, destinations[0]).startswith("refused")
        assert sb.exec("python", "-c", "import socket; socket.socket().close()").wait() == 0
    finally:
        sb.terminate()


def test_declared_ports_still_answer_under_an_allowlist(app):
    server = (
        "import http.server as h; h.HTTPServer(('0.0.0.0', 8000), h.SimpleHTTPRequestHandler)"
        ".serve_forever()"
    )
    sb = gw.Sandbox.create(
        "python",
        "-c",
        server,
        app=app,
        workdir="/tmp",
        cidr_allowlist=[],
        encrypted_ports=[8000],
        readiness_probe=gw.Probe.with_tcp(8000),
    )
    try:
        sb.wait_until_ready(timeout=60)
        with urllib.request.urlopen(sb.tunnels()[8000].url + "/", timeout=30) as r:
            assert r.status == 200
    finally:
        sb.terminate()


def test_bad_allowlists_are_refused(app):
    with pytest.raises(InvalidError, match="not a network"):
        gw.Sandbox.create(app=app, cidr_allowlist=["10.0.0.0/33"])
    with pytest.raises(InvalidError, match="block_network"):
        gw.Sandbox.create(app=app, cidr_allowlist=["10.0.0.0/8"], block_network=True)
    with pytest.raises(InvalidError, match="list of CIDRs"):
        gw.Sandbox.create(app=app, cidr_allowlist="10.0.0.0/8")


def test_ruleset_lists_both_families():
    rules = ruleset(["10.1.2.3/8", "fd00::/8"])
    assert "ip daddr { 10.0.0.0/8 } accept" in rules
    assert "ip6 daddr { fd00::/8 } accept" in rules
    assert "policy drop" in rules
