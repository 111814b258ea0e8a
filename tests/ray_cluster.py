"""A real Ray cluster on this machine, once per test session (a pytest plugin: tests/conftest.py
loads it, so every test directory can use its fixtures).

Nodes are told apart by loopback addresses given with ``--node-ip-address`` (Ray rewrites
127.0.0.1 to the machine's address): a head on 127.0.0.2 that runs no containers
(``--num-cpus=0``, as on a real cluster), a GPU worker on 127.0.0.3 (two simulated A100-80GB:
``--num-gpus=2`` and gworker's ``gpu:A100-80GB`` resource) and a CPU worker on 127.0.0.4. Token
auth is on (``RAY_AUTH_MODE=token`` in every ray command's environment, with the session's own
``RAY_AUTH_TOKEN``). Every process of the cluster carries its own temporary directory in its
command line, which is how teardown finds exactly the processes it started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import gworker
from gworker import daemon

HEAD_IP = "127.0.0.2"
GPU_NODE_IP = "127.0.0.3"
CPU_NODE_IP = "127.0.0.4"
GPU_TYPE = "A100-80GB"
NODE_MEMORY = 1024**3
OBJECT_STORE = 80 * 1024**2


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@dataclass
class RayNode:
    ip: str
    pids: list[int] = field(default_factory=list)  # the processes `ray start` left running


@dataclass
class RayCluster:
    temp_dir: Path
    env: dict[str, str]
    address: str = ""
    nodes: dict[str, RayNode] = field(default_factory=dict)
    stopped: set[int] = field(default_factory=set)  # processes of nodes stop_node ended

    @property
    def auth_env(self) -> dict[str, str]:
        """What a driver (the control plane) needs in its environment to join."""
        return {k: self.env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}

    def _ours(self) -> dict[int, bytes]:
        """The processes of this cluster and their command lines."""
        mark = str(self.temp_dir).encode()
        pids = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes()
                    if mark in cmdline:
                        pids[int(entry.name)] = cmdline
        return pids

    def _ray(self, args: list[str]) -> None:
        ray = str(Path(sys.executable).parent / "ray")
        out = subprocess.run(
            [ray, "start", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if out.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out.stdout}{out.stderr}")

    def _common(self, ip: str, cpus: int) -> list[str]:
        return [
            f"--node-ip-address={ip}",
            f"--num-cpus={cpus}",
            f"--memory={NODE_MEMORY}",
            f"--object-store-memory={OBJECT_STORE}",
            "--disable-usage-stats",
        ]

    def start_head(self) -> None:
        port = _free_port(HEAD_IP)
        self._ray(
            [
                "--head",
                f"--port={port}",
                f"--temp-dir={self.temp_dir}",
                "--include-dashboard=false",
                f"--dashboard-host={HEAD_IP}",
                f"--dashboard-port={_free_port(HEAD_IP)}",
                *self._common(HEAD_IP, 0),  # the head runs no containers, as on a real cluster
            ]
        )
        self.address = f"{HEAD_IP}:{port}"
        self.nodes[HEAD_IP] = RayNode(HEAD_IP, self._pids_of(HEAD_IP))

    def add_nodes(self, *nodes: tuple[str, int, int], gpu_type: str = GPU_TYPE) -> None:
        """Worker nodes (ip, cpus, gpus); their GPUs are of ``gpu_type``. One after the other:
        nodes of one session started at once race for the names of their sockets."""
        for ip, cpus, gpus in nodes:
            args = [f"--address={self.address}", *self._common(ip, cpus)]
            if gpus:
                resources = json.dumps({f"gpu:{gpu_type}": gpus})
                args += [f"--num-gpus={gpus}", f"--resources={resources}"]
            self._ray(args)
            self.nodes[ip] = RayNode(ip, self._pids_of(ip))

    def _pids_of(self, ip: str) -> list[int]:
        """A node's raylet (the rest of its processes end with it)."""
        mark = f"--node_ip_address={ip}".encode()
        return sorted(p for p, cmdline in self._ours().items() if mark in cmdline)

    def stop_node(self, ip: str) -> None:
        """What `ray stop` does on that node (SIGTERM to its Ray processes), without touching
        the other nodes this machine also hosts."""
        node = self.nodes.pop(ip)
        self.stopped |= _tree(set(node.pids))  # its agents and workers, for close() to check
        for pid in node.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def close(self) -> None:
        pids = _tree(set(self._ours())) | self.stopped
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(p) for p in pids):
            time.sleep(0.1)  # waiting on other processes' exits: nothing to block on
        for pid in pids:  # Ray's agents may ignore SIGTERM once their raylet is gone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _parents() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _tree(roots: set[int]) -> set[int]:
    """``roots`` and every process below them."""
    parents = _parents()
    found = set(roots)
    grew = True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    if importlib.util.find_spec("ray") is None:
        pytest.fail("the Ray tests need Ray: pip install 'gworker[ray]'")
    src = str(Path(gworker.__file__).resolve().parents[1])  # Ray workers import this gworker
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(32),
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONPATH=os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")])),
    )
    # short: Ray's unix socket paths live under it
    cluster = RayCluster(Path(tempfile.mkdtemp(prefix="gwray", dir="/tmp")), env)
    # a driver in this process (the contract tests' RayBackend) joins with the same token; Ray
    # reads it when first imported, so it is set before anything imports ray
    saved = {k: os.environ.get(k) for k in cluster.auth_env}
    os.environ.update(cluster.auth_env)
    try:
        cluster.start_head()
        cluster.add_nodes((GPU_NODE_IP, 2, 2), (CPU_NODE_IP, 2, 0))
        yield cluster
    finally:
        cluster.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class RayServer:
    """A control plane on the Ray backend."""

    home: Path
    url: str
    proc: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        token = json.loads((self.home / "token.json").read_text())
        return {
            "GW_HOME": str(self.home),
            "GW_SERVER_URL": self.url,
            "GW_TOKEN_ID": token["token_id"],
            "GW_TOKEN_SECRET": token["token_secret"],
        }

    def gw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gworker.cli", *args],
            env={**os.environ, **self.env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        )


@contextlib.contextmanager
def _serving(
    cluster: RayCluster, home: Path, extra_env: dict[str, str] | None = None
) -> Iterator[RayServer]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    env.update(cluster.auth_env, GW_BACKEND="ray", GW_RAY_ADDRESS=cluster.address)
    env.update(extra_env or {})
    # listening on the head's address, not 127.0.0.1: containers are told where it is
    proc = daemon.spawn_server(home, host=HEAD_IP, env=env)
    info = daemon.wait_until_up(home, proc)
    try:
        yield RayServer(home, info["url"], proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def _pointed_at(server: RayServer) -> Iterator[RayServer]:
    """The SDK points at ``server`` for the block (and back after)."""
    from gworker_client import _api

    saved = dict(os.environ)
    os.environ.update(server.env)
    _api.reset_client()
    try:
        yield server
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _api.reset_client()


@pytest.fixture(scope="session")
def ray_server(
    ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayServer]:
    with _serving(ray_cluster, tmp_path_factory.mktemp("ray-home")) as server:
        yield server


@pytest.fixture
def on_ray(ray_server: RayServer) -> Iterator[RayServer]:
    """The SDK points at the Ray server for the test (and back after)."""
    with _pointed_at(ray_server) as server:
        yield server


@pytest.fixture
def on_ray_short_web_timeout(ray_cluster: RayCluster, tmp_path: Path) -> Iterator[RayServer]:
    """A control plane of the test's own on the Ray backend whose gateway gives up after 2 s
    (GW_WEB_TIMEOUT_S), with the SDK pointed at it."""
    with (
        _serving(ray_cluster, tmp_path / "ray-home", {"GW_WEB_TIMEOUT_S": "2"}) as server,
        _pointed_at(server),
    ):
        yield server
