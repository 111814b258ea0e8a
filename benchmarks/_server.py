"""A private gworker control plane for the benchmark: temporary GW_HOME, ephemeral loopback port.

The same start-up as ``tests/conftest.py``'s ``start_server``, reduced to what a benchmark needs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gworker import daemon
from gworker_client import _api


@contextmanager
def local_control_plane(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Run a control plane for the block and point the SDK at it; yield its URL. ``settings``
    go into its environment (``GW_BACKEND=ray``, ``GW_RAY_ADDRESS``)."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="gw-bench-", ignore_cleanup_errors=True) as tmp:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
        env.update(settings or {})
        proc = daemon.spawn_server(home, env=env)
        try:
            url = daemon.wait_until_up(home, proc)["url"]
            _use(home, url)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            os.environ.clear()
            os.environ.update(saved)
            _api.reset_client()


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
