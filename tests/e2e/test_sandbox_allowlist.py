"""``cidr_allowlist``: outbound connections from a sandbox reach allowed networks only.

Destinations live in a network namespace this test creates (a veth pair to the host), so no
traffic leaves the machine."""

from __future__ import annotations

import textwrap
import urllib.request
from collections.abc import Iterator

import pytest

import gworker_client as gw
from gworker.backends.sandbox_firewall import ruleset
from gworker_client.exception import InvalidError
from veth import listening_namespace

PORT = 7070


@pytest.fixture(scope="module")
def destinations() -> Iterator[tuple[str, str]]:
    """Two addresses in a namespace of the test's own, both listening on PORT."""
    with listening_namespace(PORT, 2) as (allowed, other):
        yield allowed, other


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
