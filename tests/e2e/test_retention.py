"""Finished work leaves the store (``server/retention.py``), on a server of the test's own with
short keep times: a finished call's rows go after ``GW_OUTPUT_KEEP_S``, a pending or retrying
call's stay, logs go past ``GW_LOG_MAX_LINES`` per app and after ``GW_LOG_KEEP_S``, a restart
in between changes nothing, and ``state.db`` stays bounded under a loop of maps."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import retention_app
from retention_app import app

import gworker_client as gw

SHORT = {
    "GW_OUTPUT_KEEP_S": "3",
    "GW_LOG_KEEP_S": "8",
    "GW_LOG_MAX_LINES": "20",
    "GW_RETENTION_SWEEP_S": "0.2",
}
CALL_TABLES = ("calls", "inputs", "outputs", "input_tasks", "call_objects", "call_parents")


@pytest.fixture
def retaining_server(own_server):
    return own_server(SHORT)


def _q(home: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _rows_of(home: Path, call_id: str) -> int:
    return sum(
        _q(
            home,
            f"SELECT count(*) FROM {t} WHERE {'id' if t == 'calls' else 'call_id'} = ?",
            call_id,
        )[0][0]
        for t in CALL_TABLES
    )


def _calls(home: Path) -> set[str]:
    return {r[0] for r in _q(home, "SELECT id FROM calls")}


def _until(check, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_finished_call_expires_and_a_retrying_one_stays(retaining_server):
    srv, name = retaining_server, uuid.uuid4().hex[:8]
    q = gw.Queue.from_name(f"gate-{name}", create_if_missing=True)
    tries = gw.Dict.from_name(f"tries-{name}", create_if_missing=True)
    assert q.len() == 0 and tries.len() == 0  # made now, for the containers to find by name
    with app.run():
        retrying = retention_app.fails_once.spawn(f"gate-{name}", f"tries-{name}")
        _until(lambda: tries.get("n", 0) >= 2, "the input was never retried")
        before = _calls(srv.home)
        assert list(retention_app.square.map(range(300))) == [x * x for x in range(300)]
        spawned = retention_app.square.spawn(7)
        assert spawned.get() == 49
        finished = _calls(srv.home) - before
        assert spawned.object_id in finished and len(finished) == 2  # the map and the spawn
        assert all(_rows_of(srv.home, c) > 0 for c in finished)
        srv.restart()  # what expires and when is all in the store
        _until(
            lambda: all(_rows_of(srv.home, c) == 0 for c in finished),
            "a finished call's rows outlived its keep time",
        )
        with pytest.raises(gw.exception.OutputExpiredError, match="GW_OUTPUT_KEEP_S"):
            gw.FunctionCall.from_id(spawned.object_id).get()
        # the retrying call kept everything, however long it waited
        assert _q(srv.home, "SELECT state FROM inputs WHERE call_id = ?", retrying.object_id) == [
            ("pending",)
        ]
        q.put("go")
        assert retrying.get(timeout=120) == "retried"


def test_logs_past_the_cap_and_the_age_go(retaining_server):
    srv, tag = retaining_server, uuid.uuid4().hex[:8]

    def lines() -> list[str]:
        return [r[0] for r in _q(srv.home, "SELECT text FROM logs WHERE text LIKE ?", f"%{tag}%")]

    with app.run():
        app_id = app.app_id
        assert app_id
        assert retention_app.chatty.remote(60, tag) == 60
        _until(lambda: f"{tag} line 59" in "".join(lines()), "the last line never arrived")
        _until(lambda: len(lines()) <= 20, "an app's logs passed GW_LOG_MAX_LINES")
        kept = "".join(lines())
        # a line and its newline may be stored apart; no other number starts with a 0
        assert f"{tag} line 59" in kept and f"{tag} line 0" not in kept
        shown = srv.gw("app", "logs", app_id)
        assert shown.returncode == 0, shown.stderr
        assert f"{tag} line 59" in shown.stdout and f"{tag} line 0" not in shown.stdout
    _until(lambda: not lines(), "log lines outlived GW_LOG_KEEP_S")
    # the app stopped: its stopped containers' rows go as long after as its logs
    _until(
        lambda: not _q(srv.home, "SELECT 1 FROM containers WHERE app_id = ?", app_id),
        "a stopped container's row outlived GW_LOG_KEEP_S",
    )


def test_state_db_stays_bounded_under_a_loop_of_maps(retaining_server):
    srv = retaining_server
    pages: list[int] = []
    with app.run():
        for _ in range(3):
            for _ in range(6):
                assert sum(retention_app.square.map(range(500))) == sum(x * x for x in range(500))
            _until(
                lambda: _q(srv.home, "SELECT count(*) FROM inputs")[0][0] == 0,
                "the loop's inputs outlived their keep time",
            )
            assert _q(srv.home, "SELECT count(*) FROM outputs")[0][0] == 0
            assert _q(srv.home, "SELECT count(*) FROM calls")[0][0] == 0
            pages.append(_q(srv.home, "PRAGMA page_count")[0][0])
    # the pages the first round freed are used again by the next: the file does not grow
    assert pages[2] <= pages[0] * 1.2 + 64, pages
