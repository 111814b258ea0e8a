"""``gw serve``: live reload on edits, the last good version kept on a broken edit, --timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

APP = """
import gworker_client as gw

app = gw.App("served")
VERSION = {version}


@app.function(schedule=gw.Period(seconds=1))
def report():
    print(f"serving version {{VERSION}}")
"""


def _wait_for(path: Path, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = path.read_text()
        if text in out:
            return out
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear in:\n{path.read_text()}")


def test_serve_reloads_on_edit_and_survives_a_syntax_error(server, tmp_path):
    app_file = tmp_path / "served_app.py"
    app_file.write_text(APP.format(version=1))
    out_path = tmp_path / "serve.log"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gworker.cli", "serve", str(app_file), "--timeout", "120"],
            env={**os.environ, **server.env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(out_path, "serving version 1")
            app_file.write_text(APP.format(version=2))
            _wait_for(out_path, "serving version 2")
            app_file.write_text(APP.format(version=2) + "\ndef broken(:\n")
            log = _wait_for(out_path, "reload failed")
            assert "SyntaxError" in log and "still serving version 2" in log
            app_file.write_text(APP.format(version=3))
            _wait_for(out_path, "serving version 3")
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            proc.wait(timeout=60)
    log = out_path.read_text()
    assert proc.returncode == 0, log
    assert "stopped app" in log
    listing = server.gw("app", "list")
    assert "served" not in listing.stderr  # stopped when serve ended


def test_serve_stops_after_its_timeout(server, tmp_path):
    app_file = tmp_path / "timed_app.py"
    app_file.write_text(APP.format(version=1))
    r = server.gw("serve", str(app_file), "--timeout", "3")
    assert r.returncode == 0, r.stderr
    assert "serving app served" in r.stderr and "stopped app" in r.stderr


def test_serve_refuses_a_file_with_no_app(server, tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    r = server.gw("serve", str(empty), "--timeout", "5")
    assert r.returncode != 0
    assert "defines no gworker App" in r.stderr
