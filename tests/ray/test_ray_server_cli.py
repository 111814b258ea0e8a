"""``gw server start|status`` with the Ray backend."""

from __future__ import annotations

import os
import subprocess
import sys


def test_status_shows_the_backend_and_the_nodes(on_ray):
    r = on_ray.gw("server", "status")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "ray" in out
    assert "node 127.0.0.3" in out and "2x A100-80GB" in out
    assert "node 127.0.0.4" in out and "cpu 2" in out


def test_without_ray_the_ray_backend_says_what_to_install(tmp_path):
    """A Python where ``ray`` cannot be imported (a shadowing module that fails to load)."""
    shadow = tmp_path / "shadow"
    (shadow / "ray").mkdir(parents=True)
    (shadow / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    env.update(GW_HOME=str(tmp_path / "home"), PYTHONPATH=f"{shadow}:{env.get('PYTHONPATH', '')}")
    r = subprocess.run(
        [sys.executable, "-m", "gworker.cli", "server", "start", "--backend", "ray"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "pip install 'gworker[ray]'" in " ".join((r.stdout + r.stderr).split())


def test_containers_are_told_a_reachable_address_when_the_server_listens_everywhere():
    from gworker.server.app import reachable_host

    assert reachable_host("127.0.0.2") == "127.0.0.2"
    assert reachable_host("::1") == "[::1]"
    assert reachable_host("0.0.0.0") not in ("0.0.0.0", "")


def test_every_api_route_still_wants_a_token_on_the_servers_address(on_ray):
    import urllib.error
    import urllib.request

    import pytest

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{on_ray.url}/v1/status", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{on_ray.url}/v1/health", timeout=10) as ok:
        assert ok.status == 200
