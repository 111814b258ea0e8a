"""on_exit hooks run when an app stops (its own module: it stops the app)."""

from __future__ import annotations

import time
import uuid

import cls_app
from cls_app import app


def test_exit_hook_runs_when_the_app_stops(server):
    marker = f"marker-{uuid.uuid4()}"
    with app.run():
        cls_app.Hooks(marker=marker).ping.remote()
    deadline = time.monotonic() + 20
    while "exit" not in cls_app.state[marker] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cls_app.state[marker] == ["enter", "exit"]
