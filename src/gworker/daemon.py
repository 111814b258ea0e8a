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


def start_server(home: Path, host: str = "127.0.0.1", port: int | None = None) -> dict[str, Any]:
    """Start the control plane in the background (its own session) and wait until it answers."""
    home.mkdir(parents=True, exist_ok=True)
    running = server_info(home)
    if running:
        return running
    port = _previous_port(home) if port is None else port
    log_path = home / "server.log"
    with contextlib.suppress(FileNotFoundError):
        _config.server_info_path(home).unlink()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gworker.server",
                "--home",
                str(home),
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if k not in ("GW_SERVER_URL",)},
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = server_info(home)
        if info and info["pid"] == proc.pid:
            (home / "port").write_text(json.dumps(int(info["url"].rsplit(":", 1)[1])))
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.05)  # start-up only: the server is not up yet, nothing to long-poll on
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    raise exc.ConnectionError(
        f"the local gworker server did not start (GW_HOME={home}); its log {log_path} ends:\n{tail}"
    )


def ensure_local_server(home: Path) -> str:
    return start_server(home)["url"]


def stop_server(home: Path, timeout: float = 20.0) -> bool:
    """Stop the local server; return whether one was running."""
    info = server_info(home)
    if info is None:
        return False
    pid = int(info["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True
