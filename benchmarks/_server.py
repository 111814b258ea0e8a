"""A private gworker control plane for the benchmark: temporary GW_HOME, ephemeral loopback port.

The same start-up as ``tests/conftest.py``'s ``start_server``, reduced to what a benchmark needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gworker_client import _api

START_TIMEOUT_S = 30.0


@contextmanager
def local_control_plane() -> Iterator[str]:
    """Run a control plane for the block and point the SDK at it; yield its URL."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="gw-bench-", ignore_cleanup_errors=True) as tmp:
        home = Path(tmp)
        proc = _spawn(home)
        try:
            url = _wait_for_url(home, proc)
            _use(home, url)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            os.environ.clear()
            os.environ.update(saved)
            _api.reset_client()


def _spawn(home: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    with open(home / "server.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gworker.server", "--home", str(home), "--port", "0"],
            stdout=log,
            stderr=log,
            env=env,
        )


def _wait_for_url(home: Path, proc: subprocess.Popen[bytes]) -> str:
    info_path = home / "server.json"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if info_path.exists():
            info = json.loads(info_path.read_text())
            if info["pid"] == proc.pid:
                return str(info["url"])
        time.sleep(0.02)
    raise RuntimeError(f"the control plane did not start:\n{(home / 'server.log').read_text()}")


def _use(home: Path, url: str) -> None:
    token = json.loads((home / "token.json").read_text())
    os.environ.update(
        {
            "GW_HOME": str(home),
            "GW_SERVER_URL": url,
            "GW_TOKEN_ID": token["token_id"],
            "GW_TOKEN_SECRET": token["token_secret"],
        }
    )
    _api.reset_client()
