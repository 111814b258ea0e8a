"""A real control plane per test session: an ephemeral loopback port and a temporary GW_HOME."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gworker import daemon

# the Ray cluster and the control plane on the Ray backend (tests/ray_cluster.py)
pytest_plugins = ("ray_cluster",)

APPS = Path(__file__).parent / "apps"
sys.path.insert(0, str(APPS))


@dataclass
class Server:
    home: Path
    url: str
    proc: subprocess.Popen[bytes]
    port: int
    extra_env: dict[str, str] | None = None

    @property
    def env(self) -> dict[str, str]:
        token = json.loads((self.home / "token.json").read_text())
        return {
            "GW_HOME": str(self.home),
            "GW_SERVER_URL": self.url,
            "GW_TOKEN_ID": token["token_id"],
            "GW_TOKEN_SECRET": token["token_secret"],
        }

    def gw(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``gw`` CLI against this server."""
        return subprocess.run(
            [sys.executable, "-m", "gworker.cli", *args],
            env={**os.environ, **self.env, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def restart(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        started = start_server(self.home, self.port, self.extra_env)
        self.proc = started.proc


def start_server(home: Path, port: int = 0, extra_env: dict[str, str] | None = None) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    env.update(extra_env or {})
    proc = daemon.spawn_server(home, port=port, env=env)
    info = daemon.wait_until_up(home, proc)
    return Server(home, info["url"], proc, int(info["url"].rsplit(":", 1)[1]), extra_env)


def use_server(server: Server) -> None:
    from gworker_client import _api

    os.environ.update(server.env)
    _api.reset_client()


@contextlib.contextmanager
def serving(home: Path, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A control plane for the block, with the SDK pointed at it; everything restored after."""
    from gworker_client import _api

    saved = dict(os.environ)
    srv = start_server(home, extra_env=extra_env)
    use_server(srv)
    try:
        yield srv
    finally:
        if srv.proc.poll() is None:
            srv.proc.terminate()
            srv.proc.wait(timeout=30)
        os.environ.clear()
        os.environ.update(saved)
        _api.reset_client()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("gw-home")) as srv:
        yield srv


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own, for tests that kill or restart it."""
    with serving(tmp_path / "home") as srv:
        yield srv


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a simulated GPU inventory (GW_GPUS)."""
    with serving(
        tmp_path_factory.mktemp("gpu-home"), extra_env={"GW_GPUS": "A100-80GB:2,H100:2"}
    ) as srv:
        yield srv


@pytest.fixture
def short_web_timeout_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own whose web gateway gives up after 3 s (GW_WEB_TIMEOUT_S)."""
    with serving(tmp_path / "home", extra_env={"GW_WEB_TIMEOUT_S": "3"}) as srv:
        yield srv


@pytest.fixture
def gpu_fallback_server(tmp_path: Path) -> Iterator[Server]:
    """A server that runs functions without the GPU they ask for (GW_GPU_FALLBACK=cpu)."""
    with serving(tmp_path / "home", extra_env={"GW_GPU_FALLBACK": "cpu"}) as srv:
        yield srv


@pytest.fixture
def start_with_env(tmp_path: Path) -> Callable[[dict[str, str]], Server]:
    """Start a server of the test's own with extra environment (to see start-up errors)."""
    return lambda extra_env: start_server(tmp_path / "home", extra_env=extra_env)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Server]]:
    """Start a server of the test's own with extra environment and point the SDK at it (as
    ``serving`` does); it is stopped when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda extra_env: stack.enter_context(serving(tmp_path / "home", extra_env))
