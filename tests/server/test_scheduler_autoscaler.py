"""The autoscaler's decision, ``desired(snapshot, now)``, as a pure function."""

from __future__ import annotations

from dataclasses import replace

from gworker.server.scheduler import Snapshot, desired

IDLE = Snapshot(
    live=True,
    pending=0,
    inflight=0,
    active=0,
    target_inputs=1,
    min_workers=0,
    max_workers=10,
    buffer_workers=0,
    mean_run_s=None,
    lease_started=(),
    mean_start_s=0.3,
)


def test_an_idle_function_keeps_its_floor_and_nothing_more():
    assert desired(IDLE, now=0) == 0
    assert desired(replace(IDLE, min_workers=2), now=0) == 2


def test_a_retired_function_keeps_nothing_however_high_its_floor():
    assert desired(replace(IDLE, live=False, min_workers=3), now=0) == 0


def test_an_unmeasured_backlog_starts_one_container_first():
    assert desired(replace(IDLE, pending=10), now=0) == 1


def test_long_inputs_get_a_container_each_up_to_max_workers():
    busy = replace(IDLE, pending=10, mean_run_s=1.0)
    assert desired(busy, now=0) == 10
    assert desired(replace(busy, max_workers=4), now=0) == 4


def test_short_inputs_are_not_worth_another_container():
    """0.01 s of work in all: the running container finishes before a new one starts."""
    assert desired(replace(IDLE, pending=10, mean_run_s=0.001), now=0) == 1


def test_a_long_running_lease_counts_as_the_input_time():
    running = replace(IDLE, pending=5, inflight=1, lease_started=(95.0,), mean_run_s=0.001)
    assert desired(running, now=100.0) == 6


def test_concurrent_containers_share_the_load_by_target_inputs():
    busy = replace(IDLE, pending=20, mean_run_s=1.0, target_inputs=4)
    assert desired(busy, now=0) == 5


def test_buffer_containers_come_on_top_only_under_load():
    assert desired(replace(IDLE, buffer_workers=2), now=0) == 0
    assert desired(replace(IDLE, buffer_workers=2, pending=1), now=0) == 3
    capped = replace(IDLE, buffer_workers=20, pending=1, max_workers=5)
    assert desired(capped, now=0) == 5


def test_retiring_containers_count_against_max_workers_but_not_as_capacity():
    busy = replace(IDLE, pending=10, mean_run_s=1.0, max_workers=4)
    assert desired(replace(busy, retiring=3), now=0) == 1
    assert desired(replace(busy, retiring=4), now=0) == 0
    assert desired(replace(busy, retiring=1, max_workers=1, min_workers=1), now=0) == 0
