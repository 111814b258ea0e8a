"""``gw app history`` and ``gw app rollback``: deployed versions, and returning to one."""

from __future__ import annotations

import gworker_client as gw

APP = """
import gworker_client as gw

app = gw.App("versioned")


@app.function()
def answer():
    return {value!r}
"""


def _deploy(server, tmp_path, value: str) -> None:
    app_file = tmp_path / "versioned_app.py"
    app_file.write_text(APP.format(value=value))
    r = server.gw("deploy", str(app_file))
    assert r.returncode == 0, r.stderr


def _answer() -> str:
    return gw.Function.from_name("versioned", "answer").remote()


def test_history_lists_versions_and_rollback_returns_to_one(server, tmp_path):
    for value in ("first", "second", "third"):
        _deploy(server, tmp_path, value)
    assert _answer() == "third"

    r = server.gw("app", "history", "versioned")
    assert r.returncode == 0, r.stderr
    assert "v3" in r.stderr and "v1" in r.stderr and "live" in r.stderr

    r = server.gw("app", "rollback", "versioned")  # the one before the latest
    assert r.returncode == 0, r.stderr
    assert "rolled back to v2 (now live as v4)" in r.stderr
    assert _answer() == "second"

    r = server.gw("app", "rollback", "versioned", "v1")
    assert r.returncode == 0, r.stderr
    assert _answer() == "first"

    r = server.gw("app", "rollback", "versioned", "9")
    assert r.returncode == 1
    assert "version 9 is not one of app 'versioned''s: [1, 2, 3, 4, 5]" in " ".join(
        r.stderr.split()
    )
    r = server.gw("app", "rollback", "versioned", "latest")
    assert r.returncode != 0 and "'latest' is not a version like 3 or v3" in r.stderr


def test_an_ephemeral_app_does_not_roll_back(server):
    from basic_app import app

    with app.run():
        r = server.gw("app", "rollback", app.app_id)
    assert r.returncode == 1
    assert "only those roll back" in " ".join(r.stderr.split())
