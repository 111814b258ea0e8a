"""Stateful classes: hooks, methods, parameters, concurrency, batching and probes."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import cls_app
import pytest
from cls_app import app

import gworker_client as gw


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield app


def test_state_persists_across_calls_to_one_container(running):
    counter = cls_app.Counter()
    first = counter.incr.remote()
    second = counter.incr.remote()
    assert second[0] == first[0] + 1 and second[1] == first[1]
    assert counter.aincr.remote(10) == second[0] + 10


def test_methods_map_and_spawn(running):
    labels = [label for label, _ in cls_app.Classifier().classify.map([0.1, 0.9])]
    assert labels == ["negative", "positive"]
    assert cls_app.Counter().aincr.spawn(0).get() >= 0


def test_enter_and_exit_hooks_run(running):
    marker = f"marker-{uuid.uuid4()}"
    assert cls_app.Hooks(marker=marker).ping.remote() == "pong"
    assert cls_app.state[marker] == ["enter"]


def test_parameters_get_their_own_containers(running):
    low = cls_app.Classifier(threshold=0.2)
    high = cls_app.Classifier(threshold=0.8, label="great")
    label_low, pid_low = low.classify.remote(0.5)
    label_high, pid_high = high.classify.remote(0.5)
    assert (label_low, label_high) == ("positive", "negative")
    assert pid_low != pid_high
    assert high.classify.remote(0.9)[0] == "great"
    assert cls_app.Classifier(threshold=0.2).classify.remote(0.5)[1] == pid_low


def test_bad_parameters_fail_at_the_caller(running):
    with pytest.raises(gw.exception.InvalidError, match="needs parameter 'marker'"):
        cls_app.Hooks()
    with pytest.raises(gw.exception.InvalidError, match=r"threshold='high' must be float"):
        cls_app.Classifier(threshold="high")
    with pytest.raises(gw.exception.InvalidError, match="has no parameter 'thresh'"):
        cls_app.Classifier(thresh=0.1)
    with pytest.raises(AttributeError, match="has no method 'nope'"):
        cls_app.Counter().nope  # noqa: B018


def test_concurrent_inputs_share_one_container(running):
    c = cls_app.Concurrent()
    assert max(c.wait_async.map([0.3] * 8)) >= 4
    assert max(c.wait_sync.map([0.3] * 8)) >= 4


def test_batches_form_across_callers(running):
    b = cls_app.Batcher()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(b.double.remote, range(8)))
    assert results == [2 * x for x in range(8)]
    assert max(b.sizes.remote()) > 1


def test_batched_map_and_function(running):
    assert list(cls_app.Batcher().double.map(range(20))) == [2 * x for x in range(20)]
    assert list(cls_app.batched_square.map(range(40))) == [x * x for x in range(40)]


def test_batch_returning_wrong_length_fails_every_input(running):
    results = list(cls_app.Batcher().broken.map(range(4), return_exceptions=True))
    assert len(results) == 4
    assert all("must return a list with one result per input" in str(r) for r in results)


def test_on_enter_that_raises_fails_callers_with_the_traceback(running):
    with pytest.raises(gw.exception.ExecutionError, match="model weights missing"):
        cls_app.BadEnter().predict.remote()


def test_liveness_probe_failure_replaces_the_container(running):
    sick = cls_app.Sick()
    first = sick.pid.remote()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sick.pid.remote() != first:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the failing container was never replaced")
    info = gw._api.client().get(f"/v1/apps/{app.app_id}/containers")
    failed = [p for p in info["probes"] if p["method"] == "health" and not p["ok"]]
    assert failed and failed[0]["kind"] == "liveness"


def test_readiness_probe_holds_inputs_until_it_passes(running):
    flag = f"ready-{uuid.uuid4()}"
    call = cls_app.Warming(flag=flag).work.spawn()
    with pytest.raises(gw.exception.TimeoutError):
        call.get(timeout=1.0)
    cls_app.state[flag] = True
    assert call.get(timeout=30) == "done"


def test_methods_on_cls_itself_say_how_to_call_them(running):
    with pytest.raises(AttributeError, match=r"Counter\(\).incr.remote"):
        cls_app.Counter.incr  # noqa: B018


def test_local_method_call_runs_hooks_here():
    counter = cls_app.Counter()
    assert counter.incr.local()[0] == 1
    assert cls_app.Batcher().double.local(4) == 8


def test_concurrent_on_app_across_threads(running):
    b = cls_app.Counter()
    errors: list[BaseException] = []

    def hit() -> None:
        try:
            b.incr.remote()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_cli_shows_containers_and_probe_history(running, server):
    # a container that stays healthy (Sick's is replaced within a second: a race with the CLI)
    steady = cls_app.Steady().pid.remote()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = gw._api.client().get(f"/v1/apps/{app.app_id}/containers")
        if any(p["container"] == steady for p in info["probes"]):
            break
        time.sleep(0.1)
    r = server.gw("app", "containers", app.app_id, env={"COLUMNS": "250"})
    assert r.returncode == 0, r.stderr
    assert "Steady" in r.stderr and "health" in r.stderr and "liveness" in r.stderr
