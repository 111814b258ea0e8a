"""Kill tests: containers and the control plane die mid-work; nothing acknowledged is lost."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import basic_app
import pytest
from basic_app import app

import gworker_client as gw
from gworker_client import _config


def _kill_container(container_id: str) -> None:
    """Kill a container from outside, as the OOM killer or an operator would: SIGKILL to every
    process of it (bubblewrap and what runs inside)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if container_id.encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def _wait_for_key(d, key: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while key not in d:
        assert time.monotonic() < deadline, f"{key} never appeared"
        time.sleep(0.02)
    return d[key]


def test_container_killed_mid_call_is_retried(server):
    with app.run():
        key = f"victim-{uuid.uuid4()}"
        call = basic_app.report_container_then_sleep.spawn(key, 1.0)
        first = _wait_for_key(basic_app.state, key)
        _kill_container(first)
        assert call.get(timeout=60) != first  # the retry ran in a new container


def test_container_death_without_retries_fails_clearly(server):
    with app.run(), pytest.raises(gw.exception.ExecutionError, match="killed by signal SIGKILL"):
        basic_app.always_die.remote()


def test_container_death_with_retries_reruns(server):
    with app.run():
        assert basic_app.die_once.remote(f"n-{uuid.uuid4()}") == "ran 2 times"


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


def _remote_in_thread(fn, *args) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["result"] = fn.remote(*args)
        except BaseException as e:  # surfaced by the caller's assertion
            out["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _state_here() -> gw.Dict:
    """basic_app's state Dict on this test's own server (the module's handle may hold the id
    it has on another test's server)."""
    return gw.Dict.from_name("basic-app-state", create_if_missing=True)


def test_remote_in_flight_across_a_restart_runs_again(private_server):
    """A .remote() call lives in the server's memory while its caller waits; the caller's
    client re-sends it to the restarted server."""
    with app.run():
        key = f"inflight-{uuid.uuid4()}"
        thread, out = _remote_in_thread(basic_app.report_container_then_sleep, key, 1.5)
        first = _wait_for_key(_state_here(), key)
        private_server.kill()
        private_server.restart()
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert "error" not in out, out
        assert out["result"] != first  # it ran again, in a container of the new server


def test_remote_outliving_its_wait_survives_a_restart(private_server, monkeypatch):
    """A .remote() whose first wait ends before its result is stored before that answer: the
    caller then asks for it by id, which a restarted server must still know."""
    monkeypatch.setattr(_config, "LONG_POLL_S", 0.2)
    with app.run():
        key = f"outlived-{uuid.uuid4()}"
        thread, out = _remote_in_thread(basic_app.report_container_then_sleep, key, 1.5)
        first = _wait_for_key(_state_here(), key)
        time.sleep(0.4)  # past the first wait: the caller now polls the call by id
        private_server.kill()
        private_server.restart()
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert "error" not in out, out
        assert out["result"] != first


def test_server_gone_for_good_is_a_clear_error_not_a_hang(private_server, monkeypatch):
    monkeypatch.setenv("GW_RECONNECT_TIMEOUT", "1")
    with pytest.raises(gw.exception.ConnectionError, match="did not come back"), app.run():
        basic_app.square.remote(1)
        private_server.kill()
        basic_app.square.remote(2)
