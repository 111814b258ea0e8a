"""Generator functions streamed with ``remote_gen``, against a real server and containers."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from async_gen_app import Counter, StreamError, app, count_up, count_up_async, double, flaky, gated

import gworker_client as gw


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield app


def test_sync_generator_streams_its_items(running):
    assert list(count_up.remote_gen(5)) == [0, 1, 2, 3, 4]


def test_exception_mid_stream_comes_after_the_items_before_it(running):
    seen = []
    with pytest.raises(StreamError, match="failed at 3"):
        for item in count_up.remote_gen(10, fail_at=3):
            seen.append(item)
    assert seen == [0, 1, 2]


def test_async_generator_with_exception_mid_stream(running):
    async def consume() -> list[object]:
        seen = []
        with pytest.raises(StreamError, match="failed at 2"):
            async for item in count_up_async.remote_gen.aio(5, fail_at=2):
                seen.append(item)
        return seen

    assert asyncio.run(consume()) == [{"i": 0}, {"i": 1}]
    assert list(count_up_async.remote_gen(2)) == [{"i": 0}, {"i": 1}]


def test_items_arrive_as_they_are_produced(running):
    # the generator's second item waits on the consumer, so the first must arrive before it ends
    with gw.Queue.ephemeral() as q:
        stream = gated.remote_gen(q)
        assert next(stream) == "first"
        q.put("second")
        assert list(stream) == ["second"]


def test_a_retried_input_repeats_no_item(running):
    d = gw.Dict.from_name(f"flaky-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    assert list(flaky.remote_gen(d, 5)) == [0, 1, 2, 3, 4]
    assert d["attempt"] == 2


def test_generator_method_of_a_class(running):
    assert list(Counter().up.remote_gen(4)) == [0, 1, 2, 3]


def test_calls_that_do_not_fit_a_generator_are_refused(running):
    with pytest.raises(
        gw.exception.InvalidError, match=r"cannot be called with `\.remote\(\.\.\.\)`"
    ):
        count_up.remote(3)
    with pytest.raises(gw.exception.InvalidError, match=r"cannot be called with `\.map\(\.\.\.\)`"):
        count_up.map([1, 2])
    with pytest.raises(gw.exception.InvalidError, match=r"Use `\.remote\(\.\.\.\)` instead"):
        double.remote_gen(3)
    with pytest.raises(gw.exception.InvalidError, match="cannot be called with"):
        Counter().up.remote(3)


def test_a_stopped_consumer_cancels_the_stream(running):
    stream = count_up.remote_gen(1000)
    assert next(stream) == 0
    stream.close()
    assert list(count_up.remote_gen(2)) == [0, 1]  # the app keeps serving
