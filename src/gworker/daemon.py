"""Starting, finding and stopping the local control plane under ``GW_HOME``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from gworker_client import _config
from gworker_client import exception as exc

from .constants import STOP_GRACE_S

START_TIMEOUT_S = 20.0


def server_info(home: Path) -> dict[str, Any] | None:
    """The running local server's ``{"url", "pid"}``, or None when none answers."""
    try:
        info = json.loads(_config.server_info_path(home).read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        with urllib.request.urlopen(info["url"] + "/v1/health", timeout=2) as resp:
            resp.read()
    except OSError:
        return None
    return info


def _previous_port(home: Path) -> int:
    """Reuse the last port, so clients and containers of a restarted server find it again."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        return int(json.loads((home / "port").read_text()))
    return 0


def spawn_server(
    home: Path, host: str = "127.0.0.1", port: int = 0, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a control plane process for ``home`` in its own session, logging to
    ``home/server.log``; ``wait_until_up`` waits for it."""
    home.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        _config.server_info_path(home).unlink()
    argv = [sys.executable, "-m", "gworker.server", "--home", str(home), "--host", host]
    with open(home / "server.log", "ab") as log:
        return subprocess.Popen(
            [*argv, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=env if env is not None else os.environ.copy(),
        )


def wait_until_up(home: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The server's ``{"url", "pid"}`` once ``proc`` answers; a clear error if it dies first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        info = server_info(home)
        if info and info["pid"] == proc.pid:
            return info
        time.sleep(0.05)  # start-up only: the server is not up yet, nothing to long-poll on
    log_path = home / "server.log"
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    raise exc.ConnectionError(
        f"the gworker server did not start (GW_HOME={home}); its log {log_path} ends:\n{tail}"
    )


def start_server(
    home: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Start the local control plane in the background, unless one answers already;
    ``settings`` (``GW_BACKEND``, ``GW_RAY_ADDRESS``, ...) go into its environment."""
    running = server_info(home)
    if running:
        return running
    port = _previous_port(home) if port is None else port
    env = {k: v for k, v in os.environ.items() if k != "GW_SERVER_URL"}
    env.update(settings or {})
    info = wait_until_up(home, spawn_server(home, host, port, env))
    (home / "port").write_text(json.dumps(int(info["url"].rsplit(":", 1)[1])))
    return info


def ensure_local_server(home: Path) -> str:
    return start_server(home)["url"]


def stop_server(home: Path, timeout: float | None = None) -> str | None:
    """Stop the local server: ``"stopped"`` when it stopped on its own after SIGTERM (its
    containers' exit hooks ran), ``"killed"`` when it needed SIGKILL, None when none ran."""
    info = server_info(home)
    if info is None:
        return None
    pid = int(info["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    # the server gives its containers STOP_GRACE_S to run their exit hooks, then kills them
    deadline = time.monotonic() + (STOP_GRACE_S + 10.0 if timeout is None else timeout)
    while time.monotonic() < deadline:
        if not _alive(pid):
            return "stopped"
        time.sleep(0.05)  # waiting on another process's exit: there is nothing to block on
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return "killed"


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie child of ours counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
