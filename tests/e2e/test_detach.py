"""``gw run --detach`` / ``app.run(detach=True)``: the app keeps running its calls after the
client is killed, then stops by itself; and ``gw run -i`` is refused clearly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import gworker_client as gw
from gworker_client import _api

APPS = Path(__file__).parent.parent / "apps"


def _app_state(app_id: str) -> str:
    return _api.client().get(f"/v1/apps/resolve?ref={app_id}")["state"]


def test_a_detached_run_outlives_its_killed_client(server):
    tag = uuid.uuid4().hex[:8]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gworker.cli", "run", "--detach", str(APPS / "detach_app.py")]
        + ["--tag", tag, "--n", "6"],
        env={**os.environ, **server.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the map's first result: every input is submitted by now
    assert first.startswith("result"), proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    results = gw.Dict.from_name(f"detach-{tag}", create_if_missing=True)
    deadline = time.monotonic() + 120
    while len(results) < 6:
        assert time.monotonic() < deadline, dict(results.items())
        time.sleep(0.2)
    assert dict(results.items()) == {x: x * x for x in range(6)}
    # with its calls done and its client gone, the app stops by itself
    apps = [a for a in _api.client().get("/v1/apps")["apps"] if a["name"] == "detach-app"]
    app_id = apps[-1]["id"]
    assert apps[-1]["mode"] == "detached"
    deadline = time.monotonic() + 120
    while _app_state(app_id) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_detach_in_code_and_a_clean_exit(server):
    from detach_app import app, record

    tag = uuid.uuid4().hex[:8]
    with app.run(detach=True):
        call = record.spawn(3, tag)
        app_id = app.app_id
    # the block ended before the spawned call did: the call still finishes
    assert call.get(timeout=60) == 9
    assert gw.Dict.from_name(f"detach-{tag}")[3] == 9
    deadline = time.monotonic() + 120
    while _app_state(app_id) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_interactive_is_refused(server):
    r = server.gw("run", "-i", str(APPS / "detach_app.py"), "--tag", "x")
    assert r.returncode == 1
    assert "attaches no terminal to containers" in " ".join(r.stderr.split())


def test_a_detached_app_waits_for_retries_and_sandboxes(server):
    from detach_app import app, fails_once

    tag = uuid.uuid4().hex[:8]
    with app.run(detach=True):
        call = fails_once.spawn(tag)
        sb = gw.Sandbox.create("sh", "-c", "sleep 4; echo done", app=app)
        app_id = app.app_id
    # the retry waits out its delay with nothing queued or running: still the app's work
    assert call.get(timeout=120) == "second attempt"
    sb.wait(raise_on_termination=False)
    assert sb.returncode == 0 and sb.stdout.read() == "done\n"
    deadline = time.monotonic() + 120
    while _app_state(app_id) != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.2)
