"""``gw server stop`` is graceful: long-polls end at once, containers run their exit hooks and
commit their volumes, the server exits on its own (no SIGKILL) and removes server.json."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import gworker_client as gw
from gworker_client import _config

APPS = Path(__file__).parent.parent / "apps"


def _long_poll(server, call_id: str, outcome: dict[str, object]) -> None:
    """A caller waiting for a busy call's output, as ``FunctionCall.get`` does."""
    env = server.env
    req = urllib.request.Request(
        f"{server.url}/v1/calls/{call_id}/outputs?timeout=55",
        headers={"Authorization": f"Bearer {env['GW_TOKEN_ID']}:{env['GW_TOKEN_SECRET']}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            outcome["status"] = resp.status
    except urllib.error.HTTPError as e:
        outcome["status"] = e.code
    except OSError as e:
        outcome["error"] = repr(e)


def test_stop_runs_exit_hooks_commits_volumes_and_ends_long_polls(private_server):
    srv = private_server
    r = srv.gw("deploy", str(APPS / "graceful_app.py"))
    assert r.returncode == 0, r.stderr
    assert gw.Cls.from_name("graceful", "Keeper")().ping.remote() == "pong"  # a warm container
    call = gw.Function.from_name("graceful", "slow").spawn(600)  # a busy one
    outcome: dict[str, object] = {}
    poller = threading.Thread(target=_long_poll, args=(srv, call.object_id, outcome))
    poller.start()

    r = srv.gw("server", "stop")
    assert r.returncode == 0, r.stderr
    said = r.stdout + r.stderr
    assert "stopped" in said and "killed" not in said, said
    assert srv.proc.wait(timeout=60) == 0  # it exited on its own after SIGTERM
    poller.join(timeout=60)
    assert outcome.get("status") == 200, outcome  # the long-poll was answered, not cut off
    assert not _config.server_info_path(srv.home).exists()
    log = (srv.home / "server.log").read_text()
    assert "control plane stopped gracefully" in log

    srv.restart()
    data = b"".join(gw.Volume.from_name("graceful-data").read_file("exit.txt"))
    assert data == b"written on exit"
