"""Variants against a real server: ``with_options``, ``with_concurrency`` and ``with_batching``
run in containers of their own with the other options, next to the originals."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from variants_app import Labeller, OneAtATime, SmallBatches, app, count_to, hog, nap

import gworker_client as gw

APPS = Path(__file__).parent.parent / "apps"


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield app


def test_function_and_its_variant_run_at_once_in_their_own_containers(running):
    short = nap.with_options(timeout=1, cpu=0.5)
    with ThreadPoolExecutor(2) as pool:
        original = pool.submit(nap.remote, 2)  # longer than the variant's timeout
        with pytest.raises(gw.exception.FunctionTimeoutError, match="timed out after 1s"):
            short.remote(3)
        assert original.result() != short.remote(0)  # another container
    assert nap.remote(0) == original.result()  # the original keeps its containers
    assert "timeout=1.0" in repr(short) and repr(nap) == "Function('nap')"


def test_a_memory_variant_gets_the_limit(running):
    assert hog.remote(300) == 300
    with pytest.raises(gw.exception.ExecutionError, match=r"out of memory \(limit 128 MiB\)"):
        hog.with_options(memory=128).remote(300)


def test_variants_stack_and_keep_generators_and_map(running):
    stacked = nap.with_options(timeout=1).with_options(timeout=20, max_containers=1)
    assert stacked.remote(1.5)  # longer than the first timeout: the later one wins
    assert len(set(stacked.map([0.1] * 4))) == 1  # max_containers=1: one container
    assert list(count_to.with_options(scaledown_window=5).remote_gen(3)) == [0, 1, 2]


def test_cls_with_options_instances_and_parameters(running):
    fast = Labeller.with_options(timeout=1)
    with pytest.raises(gw.exception.FunctionTimeoutError, match="timed out after 1s"):
        fast(label="x").nap.remote(3)
    label, variant_container = fast(label="x").nap.remote(0)
    _, original_container = Labeller(label="x").nap.remote(2)  # the original keeps timeout=30
    assert label == "x" and variant_container != original_container
    assert fast().nap.remote(0)[0] == "plain"
    assert Labeller.with_options(timeout=1).with_options(timeout=20)().nap.remote(1.5)[0] == "plain"


def test_with_concurrency_runs_inputs_at_once_in_one_container(running):
    original = list(OneAtATime().wait.map([0.3] * 4))
    assert {peak for peak, _ in original} == {1} and len({c for _, c in original}) == 1
    many = list(OneAtATime.with_concurrency(max_inputs=4)().wait.map([0.5] * 4))
    assert max(peak for peak, _ in many) >= 2 and len({c for _, c in many}) == 1
    assert many[0][1] != original[0][1]


def test_with_batching_changes_the_batch_size(running):
    assert max(SmallBatches().size.map(range(8))) <= 2
    bigger = SmallBatches.with_batching(max_batch_size=8, wait_ms=500)()
    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(bigger.size.remote, range(8)))
    assert max(sizes) > 2
    assert bigger.plain.remote() != SmallBatches().plain.remote()


def test_refused_variants_name_the_fix(running):
    with pytest.raises(gw.exception.InvalidError, match="Did you mean 'timeout'"):
        nap.with_options(timout=3)
    with pytest.raises(gw.exception.InvalidError, match="secrets are resolved when the app"):
        Labeller.with_options(secrets=[gw.Secret.from_dict({"A": "1"})])
    with pytest.raises(gw.exception.InvalidError, match="has no @gw.batched"):
        Labeller.with_batching(max_batch_size=4, wait_ms=10)
    with pytest.raises(gw.exception.InvalidError, match=r"with_concurrency\(max_inputs=0\)"):
        OneAtATime.with_concurrency(max_inputs=0)
    with pytest.raises(gw.exception.InvalidError, match=r"use Labeller\.with_options"):
        Labeller().nap.with_options(timeout=3)
    # checked by the server against the published spec: max_containers=1 there
    with pytest.raises(gw.exception.InvalidError, match="min_workers=3 must be from 0"):
        OneAtATime.with_options(min_containers=3)().wait.remote(0)
    with pytest.raises(gw.exception.InvalidError, match="asks for gpu H100:1, which no device"):
        nap.with_options(gpu="H100").remote(0)


def test_variants_of_a_deployed_function_and_class(server):
    assert server.gw("deploy", str(APPS / "variants_deployed.py")).returncode == 0
    try:
        f = gw.Function.from_name("variants-deployed", "nap")
        short = f.with_options(timeout=1)
        with pytest.raises(gw.exception.FunctionTimeoutError, match="timed out after 1s"):
            short.remote(3)
        assert f.remote(2) != short.remote(0)
        sleeper = gw.Cls.from_name("variants-deployed", "Sleeper")
        with pytest.raises(gw.exception.FunctionTimeoutError, match="timed out after 1s"):
            sleeper.with_options(timeout=1)().nap.remote(3)
        assert sleeper().nap.remote(2) != sleeper.with_concurrency(max_inputs=2)().nap.remote(0)
    finally:
        assert server.gw("app", "stop", "variants-deployed").returncode == 0
