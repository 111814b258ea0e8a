"""A sandbox's ports through the gateway (``sb.tunnels()``), and what a tunnel URL cannot reach."""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

import gworker_client as gw
from gworker.backends.sandbox_ports import ForwardError, add_forward
from gworker.server.scheduler.sandbox_reach import forward_address
from gworker_client import environments
from gworker_client._sandbox import _image_spec
from gworker_client.exception import InvalidError

SERVE = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = ('sandbox saw ' + self.path).encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers(); self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('0.0.0.0', int(sys.argv[1])), H).serve_forever()\n"
)


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup("sandbox-tunnels", create_if_missing=True)


@pytest.fixture(scope="module")
def web_sb(app) -> Iterator[gw.Sandbox]:
    sb = gw.Sandbox.create(
        "python",
        "-c",
        SERVE,
        "8000",
        app=app,
        encrypted_ports=[8000],
        unencrypted_ports=[9000],
        readiness_probe=gw.Probe.with_tcp(8000),
    )
    sb.wait_until_ready(timeout=60)
    yield sb
    sb.terminate()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_an_http_port_is_reachable_by_its_url(web_sb, server):
    tunnels = web_sb.tunnels()
    assert sorted(tunnels) == [8000, 9000]
    t = tunnels[8000]
    assert t.url.startswith(server.url + "/web/tn-")
    assert get(t.url + "/hello?x=1") == (200, "sandbox saw /hello?x=1")
    # by Host header too, as web endpoints are
    label = t.url.rsplit("/", 1)[1]
    req = urllib.request.Request(server.url + "/path", headers={"Host": f"{label}.example"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.read() == b"sandbox saw /path"
    with pytest.raises(InvalidError, match="unencrypted_ports"):
        _ = t.tcp_socket


def test_an_unencrypted_port_is_raw_tcp_too(web_sb):
    # the sandbox listens on 9000 only when asked: a raw TCP echo
    web_sb.exec(
        "python",
        "-c",
        "import socket; s = socket.create_server(('0.0.0.0', 9000)); c, _ = s.accept();"
        " c.sendall(c.recv(100).upper()); c.close()",
    )
    host, port = web_sb.tunnels()[9000].tcp_socket
    for _ in range(100):  # until the listener is up
        try:
            with socket.create_connection((host, port), timeout=10) as c:
                c.sendall(b"ping")
                data = c.recv(100)
                if data:
                    assert data == b"PING"
                    return
        except OSError:
            pass
        web_sb.exec("sleep", "0.05").wait()
    pytest.fail("the raw TCP port never answered")


def test_a_tunnel_reaches_its_port_and_nothing_else(web_sb, server):
    # a listener on the host's loopback that no tunnel forwards to
    listener = socket.create_server(("127.0.0.1", 0))
    hits: list[bytes] = []

    def accept() -> None:
        listener.settimeout(5)
        try:
            c, _ = listener.accept()
            hits.append(c.recv(100))
            c.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    host_port = listener.getsockname()[1]
    url = web_sb.tunnels()[8000].url
    # path tricks stay on the sandbox's port: they reach its server as paths
    for path in (f"/..%2f..%2f127.0.0.1:{host_port}/", f"//127.0.0.1:{host_port}/", "/../v1/apps"):
        status, body = get(url + path)
        assert status == 200 and body.startswith("sandbox saw ")
    # the control plane's API is not behind a tunnel, and an unknown label is a 404
    assert get(server.url + "/web/tn-00000000000000000000/")[0] == 404
    listener.close()
    assert hits == []


def test_a_port_nobody_listens_on_is_a_502(app):
    sb = gw.Sandbox.create(app=app, encrypted_ports=[8500])
    try:
        status, body = get(sb.tunnels()[8500].url + "/")
        assert status == 502 and "8500" in body
    finally:
        sb.terminate()


def test_tunnels_end_with_their_sandbox(app):
    sb = gw.Sandbox.create("python", "-c", SERVE, "8000", app=app, encrypted_ports=[8000])
    url = sb.tunnels()[8000].url
    sb.terminate()
    sb.wait(raise_on_termination=False)
    assert sb.tunnels() == {}
    assert get(url + "/")[0] == 404


def test_bad_ports_are_refused(app):
    with pytest.raises(InvalidError, match="ports"):
        gw.Sandbox.create(app=app, encrypted_ports=[0])
    with pytest.raises(InvalidError, match="block_network"):
        gw.Sandbox.create(app=app, encrypted_ports=[80], block_network=True)


def test_ports_without_network_are_refused_before_anything_runs(app):
    """The server refuses it too (another client may skip the SDK's check), and before the
    command starts: nothing of it runs, no row is left."""
    body = {
        "sandbox_id": "sb-" + uuid.uuid4().hex[:24],
        "app_id": app.app_id,
        "image": _image_spec(gw._api.client(), app.app_id, gw.Image.debian_slim()),
        "args": ["true"],
        "timeout": 60,
        "block_network": True,
        "unencrypted_ports": [8000],
    }
    with pytest.raises(InvalidError, match=r"block_network=True .*unencrypted_ports=\[8000\]"):
        gw._api.client().post("/v1/sandboxes", body)
    with pytest.raises(gw.exception.NotFoundError):
        gw.Sandbox.from_id(body["sandbox_id"])


def test_a_forward_that_cannot_be_asked_is_a_forward_error(tmp_path):
    with pytest.raises(ForwardError, match="could not forward port 80"):
        asyncio.run(add_forward(str(tmp_path / "no-socket"), 80, "127.0.0.1"))


def test_raw_tcp_forwards_listen_on_an_address_resolved_once():
    assert forward_address("http://localhost:8000") == "127.0.0.1"
    assert forward_address(f"http://{socket.gethostname()}:8000") is not None
    assert forward_address("http://[::1]:8000") is None


def test_only_a_tunnels_exact_label_form_is_taken_as_one(server):
    """``/web/tn-api`` is a web endpoint's path (in path and host routing alike), and the
    ``tn-`` prefix is kept for tunnels where users choose names."""
    status, body = get(server.url + "/web/tn-api/")
    assert status == 404 and "no tunnel" not in body
    assert "no tunnel" in get(server.url + "/web/tn-00000000000000000000/")[1]
    with pytest.raises(InvalidError, match="kept for sandbox tunnels"):
        gw.fastapi_endpoint(label="tn-api")
    for name in ("tn-prod", "TN"):
        with pytest.raises(InvalidError, match="kept for sandbox tunnels"):
            environments.create_environment(name)
    r = server.gw("environment", "update", "main", "--set-web-suffix", "tn-x")
    assert r.returncode != 0 and "tn-x" in r.stderr


def test_tunnels_take_the_gateways_timeout(monkeypatch):
    from gworker.server.tunnels import Tunnels

    monkeypatch.setenv("GW_WEB_TIMEOUT_S", "3")
    assert Tunnels().timeout == 3.0
