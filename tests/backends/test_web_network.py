"""Which containers get a network of their own (``fleet.own_ports``), how ``launch.plan`` sets
one up, and the rule that delivers forwarded connections to the namespace's loopback."""

from __future__ import annotations

import socket
from pathlib import Path

from gworker import constants as C
from gworker.backends.base import LaunchSpec
from gworker.backends.launch import CONTROL_DIR, plan
from gworker.backends.limits import Limiter
from gworker.backends.web_network import ruleset
from gworker.images import BuiltImage
from gworker.server.scheduler.fleet import own_ports
from gworker_client._protocol import WebEndpoint


def test_only_servers_on_ports_of_their_choosing_get_one():
    server = WebEndpoint(kind="web_server", port=8000)
    assert own_ports((server,)) == (8000,)
    assert own_ports((WebEndpoint(kind="server", port=9000), server)) == (8000, 9000)
    assert own_ports(()) == ()
    assert own_ports((WebEndpoint(kind="asgi_app"),)) == ()
    # a class mixing them keeps the host's network: uvicorn's ports are picked at start
    assert own_ports((server, WebEndpoint(kind="fastapi_endpoint", name="f"))) == ()


def test_plan_unshares_and_binds_the_control_sockets(tmp_path: Path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    image = BuiltImage("d", "k", tmp_path, (), "/usr/bin/python3", "3.11.2", runtime)
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    spec = LaunchSpec("ct-1", "fn-1", "ap-1", {}, web_ports=(8000, 8001))
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sockets / C.API_SOCKET))
        launch = plan(spec, image, [], None, Limiter(None, []), tmp_path, sockets, True)
    assert launch.env["GW_OWN_NETWORK"] == "8000,8001"
    assert launch.env["GW_SERVER_SOCKET"] == f"{CONTROL_DIR}/{C.API_SOCKET}"
    assert CONTROL_DIR in launch.argv
    # without own_network (a Ray node), the same spec shares the machine's network
    shared = plan(spec, image, [], None, Limiter(None, []), tmp_path, None)
    assert "GW_OWN_NETWORK" not in shared.env and CONTROL_DIR not in shared.argv


def test_forwarded_connections_go_to_the_namespace_loopback():
    rules = ruleset([8001, 8000, 8000])
    assert "type nat hook prerouting" in rules
    assert 'iifname "tap0" tcp dport { 8000, 8001 } dnat to 127.0.0.1' in rules
