"""The autoscaler: scale from zero, min/max/buffer workers, idle timeout."""

from __future__ import annotations

import time

import pytest
import scaling_app
from scaling_app import app


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield


def test_min_workers_are_kept_warm_before_any_call(running):
    _wait_for(lambda: scaling_app.warm.get_current_stats().num_total_runners == 1)
    _wait_for(lambda: scaling_app.WarmClass._service.get_current_stats().num_total_runners == 1)
    first = scaling_app.warm.remote()
    time.sleep(1.5)  # past any idle timeout a min worker would have
    assert scaling_app.warm.remote() == first


def test_max_workers_caps_the_containers(running):
    pids = set(scaling_app.capped.map([0.3] * 8))
    assert len(pids) <= 2


def test_idle_containers_stop_after_idle_timeout(running):
    scaling_app.short_lived.remote()
    assert scaling_app.short_lived.get_current_stats().num_total_runners == 1
    _wait_for(lambda: scaling_app.short_lived.get_current_stats().num_total_runners == 0, 15)


def test_buffer_workers_run_beside_the_load(running):
    call = scaling_app.buffered.spawn(2.0)
    _wait_for(lambda: scaling_app.buffered.get_current_stats().num_total_runners >= 2, 15)
    call.get()
