"""Kill tests: containers and the control plane die mid-work; nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import basic_app
import pytest
from basic_app import app

import gworker_client as gw


def _wait_for_file(path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and (text := Path(path).read_text()):
            return text
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def test_container_killed_mid_call_is_retried(server, tmp_path):
    with app.run():
        pid_file = tmp_path / "pid"
        call = basic_app.report_pid_then_sleep.spawn(str(pid_file), 1.0)
        first_pid = int(_wait_for_file(pid_file))
        pid_file.unlink()
        os.kill(first_pid, signal.SIGKILL)
        assert call.get(timeout=60) != first_pid  # the retry ran in a new container


def test_container_death_without_retries_fails_clearly(server):
    with app.run(), pytest.raises(gw.exception.ExecutionError, match="killed by signal SIGKILL"):
        basic_app.always_die.remote()


def test_container_death_with_retries_reruns(server, tmp_path):
    with app.run():
        assert basic_app.die_once.remote(str(tmp_path / "n")) == "ran 2 times"


def test_server_killed_and_restarted_mid_map(private_server):
    with app.run():
        results: list[int] = []
        errors: list[BaseException] = []

        def consume() -> None:
            try:
                results.extend(basic_app.slow_square.map(range(40)))
            except BaseException as e:  # surfaced by the assertion below
                errors.append(e)

        consumer = threading.Thread(target=consume)
        consumer.start()
        time.sleep(1.0)  # let part of the map run before the crash
        private_server.kill()
        time.sleep(0.5)
        private_server.restart()
        consumer.join(timeout=120)
        assert not consumer.is_alive()
        assert not errors, errors
        assert results == [x * x for x in range(40)]


def test_remote_across_a_restart_gets_its_result(private_server):
    with app.run():
        call = basic_app.slow_square.spawn(6)
        private_server.kill()
        private_server.restart()
        assert call.get(timeout=60) == 36


def test_server_gone_for_good_is_a_clear_error_not_a_hang(private_server, monkeypatch):
    monkeypatch.setenv("GW_RECONNECT_TIMEOUT", "1")
    with pytest.raises(gw.exception.ConnectionError, match="did not come back"), app.run():
        basic_app.square.remote(1)
        private_server.kill()
        basic_app.square.remote(2)
