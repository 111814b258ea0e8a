"""on_exit hooks run when an app stops (its own module: it stops the app)."""

from __future__ import annotations

import time

import cls_app
from cls_app import app


def test_exit_hook_runs_when_the_app_stops(server, tmp_path):
    marker = tmp_path / "marker"
    with app.run():
        cls_app.Hooks(marker=str(marker)).ping.remote()
    deadline = time.monotonic() + 20
    while "exit" not in marker.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "enter\nexit\n"
