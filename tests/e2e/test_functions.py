"""Functions called through a real control plane and real containers."""

from __future__ import annotations

import uuid

import basic_app
import pytest
from basic_app import app

import gworker_client as gw


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield app


def test_remote_returns_result(running):
    assert basic_app.square.remote(7) == 49
    assert basic_app.add.remote(2, b=3) == 5


def test_async_function(running):
    assert basic_app.async_double.remote(21) == 42


def test_user_exception_keeps_type_message_and_remote_traceback(running):
    with pytest.raises(basic_app.CustomError, match="nope") as info:
        basic_app.fail.remote("nope")
    cause = info.value.__cause__
    assert isinstance(cause, gw.exception.RemoteTraceback)
    assert "raise CustomError(message)" in cause.tb


def test_timeout_raises_function_timeout_error(running):
    with pytest.raises(gw.exception.FunctionTimeoutError, match="timed out after 1s"):
        basic_app.sleepy.remote(5)


def test_unpicklable_result_names_the_type(running):
    with pytest.raises(gw.exception.SerializationError, match="_thread.lock"):
        basic_app.unpicklable.remote()


def test_arguments_that_do_not_bind_fail_at_the_caller(running):
    with pytest.raises(TypeError, match=r"square\(x: int\) -> int: too many positional"):
        basic_app.square.remote(1, 2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
        basic_app.square.remote(1, y=1)


def test_large_payloads_round_trip(running):
    blob = bytes(range(256)) * (40 * 1024 * 1024 // 256)  # 40 MiB
    assert basic_app.echo.remote(blob) == blob


def test_map_keeps_order(running):
    assert list(basic_app.square.map(range(200))) == [x * x for x in range(200)]


def test_map_unordered_and_starmap(running):
    assert sorted(basic_app.square.map(range(50), order_outputs=False)) == sorted(
        x * x for x in range(50)
    )
    assert list(basic_app.add.starmap([(1, 2), (3, 4)])) == [3, 7]
    assert list(basic_app.add.map([1, 2], kwargs={"b": 10})) == [11, 12]


def test_map_raises_first_error_or_returns_exceptions(running):
    with pytest.raises(basic_app.CustomError):
        list(basic_app.fail.map(["a", "b"]))
    results = list(basic_app.fail.map(["a"], return_exceptions=True))
    assert isinstance(results[0], basic_app.CustomError)


def test_empty_map(running):
    assert list(basic_app.square.map([])) == []


def test_spawn_and_function_call_from_id(running):
    call = basic_app.square.spawn(9)
    assert gw.FunctionCall.from_id(call.object_id).get() == 81
    assert call.get() == 81


def test_spawn_map_and_for_each(running):
    call = basic_app.square.spawn_map(range(5))
    assert call.get() == [0, 1, 4, 9, 16]
    assert basic_app.square.for_each(range(5)) is None


def test_get_with_timeout(running):
    call = basic_app.slow_square.spawn(3)
    with pytest.raises(gw.exception.TimeoutError):
        call.get(timeout=0.01)
    assert call.get() == 9


def test_cancel_pending_inputs(running):
    call = basic_app.slow_square.spawn_map(range(30))
    call.cancel()
    with pytest.raises(gw.exception.InputCancellation):
        call.get()


def test_retries_rerun_a_failing_input(running):
    assert basic_app.flaky.remote(f"count-{uuid.uuid4()}", 2) == 2
    with pytest.raises(RuntimeError, match="attempt 2 fails"):
        basic_app.flaky.remote(f"other-{uuid.uuid4()}", 5)


def test_function_calls_another_function_from_a_container(running):
    assert basic_app.call_other.remote(4) == 17


def test_stats(running):
    stats = basic_app.square.get_current_stats()
    assert stats.backlog == 0
    assert stats.num_total_runners >= 0


def test_local_runs_in_process(running):
    assert basic_app.square.local(3) == 9
