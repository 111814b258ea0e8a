"""gw.Queue against a real control plane (and, at the end, real containers)."""

from __future__ import annotations

import pickle
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import dict_queue_app
import pytest

import gworker_client as gw
from gworker_client._queue import MAX_PARTITION_ITEMS


@pytest.fixture
def q(server):
    with gw.Queue.ephemeral() as q:
        yield q


class Background:
    """Runs ``fn`` in a thread; ``result()`` joins it and returns what it returned."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._box: list[Any] = []
        self._thread = threading.Thread(target=lambda: self._box.append(fn()), daemon=True)
        self._thread.start()

    def result(self, timeout: float = 30) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background call did not return"
        return self._box[0]


def test_fifo_and_nonblocking_get_on_empty(q):
    q.put("a")
    q.put_many(["b", "c"])
    assert q.len() == 3
    assert [q.get(), q.get(), q.get()] == ["a", "b", "c"]
    assert q.get(block=False) is None
    assert q.len() == 0


def test_blocking_get_is_woken_by_a_put_from_another_thread(q):
    getter = Background(lambda: (q.get(timeout=20), time.monotonic()))
    time.sleep(0.2)  # lets the get reach the server first; the result does not depend on it
    put_at = time.monotonic()
    q.put({"job": 1})
    value, returned_at = getter.result()
    assert value == {"job": 1}
    assert returned_at - put_at < 5  # woken by the put, not by its 20 s timeout


def test_blocking_get_many_is_woken_by_put_many(q):
    getter = Background(lambda: q.get_many(10, timeout=20))
    q.put_many([1, 2, 3])
    assert getter.result() == [1, 2, 3]


def test_blocking_get_that_times_out_raises_queue_empty(q):
    # Modal's contract: apps loop on `except queue.Empty` to learn that a queue has drained
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)
    assert time.monotonic() - start >= 0.3
    with pytest.raises(queue.Empty):
        q.get_many(3, timeout=0.1)
    # non-blocking gets answer at once with nothing
    assert q.get(block=False) is None
    assert q.get_many(3, block=False) == []


def test_get_many_returns_up_to_n_in_order(q):
    q.put_many(range(5))
    assert q.get_many(3) == [0, 1, 2]
    assert q.get_many(10) == [3, 4]
    assert q.get_many(2, block=False) == []


def test_partitions_are_separate_fifos(q):
    q.put(0)
    q.put_many([1, 2], partition="a")
    q.put(3, partition="b")
    assert (q.len(), q.len(partition="a"), q.len(partition="b")) == (1, 2, 1)
    assert q.len(total=True) == 4
    assert q.get(partition="a") == 1
    assert q.get(block=False, partition="b") == 3
    assert q.get() == 0
    q.clear(partition="a")
    assert q.len(total=True) == 0
    q.put_many([1, 2], partition="c")
    q.put(3)
    q.clear(all=True)
    assert q.len(total=True) == 0


def test_bad_partition_and_argument_combinations(q):
    with pytest.raises(gw.exception.InvalidError, match="partition '' is not valid"):
        q.put(1, partition="")
    with pytest.raises(gw.exception.InvalidError, match="at most 64 bytes"):
        q.get(partition="p" * 65)
    with pytest.raises(gw.exception.InvalidError, match="not both"):
        q.len(partition="a", total=True)
    with pytest.raises(gw.exception.InvalidError, match="not both"):
        q.clear(partition="a", all=True)
    with pytest.raises(gw.exception.InvalidError, match="timeout=-1"):
        q.get(timeout=-1)


def test_iterate_reads_without_removing(q):
    q.put_many(["x", "y"])
    assert list(q.iterate()) == ["x", "y"]
    assert q.len() == 2
    late = threading.Timer(0.1, lambda: q.put("z"))
    late.start()
    seen = []
    for item in q.iterate(item_poll_timeout=10):
        seen.append(item)
        if item == "z":
            break
    late.join()
    assert seen == ["x", "y", "z"]


def test_oversized_item_is_rejected_and_nothing_written(q):
    big = b"x" * (16 * 1024 * 1024 + 100)
    with pytest.raises(gw.exception.InvalidError, match=r"queue item is 16 MiB .*limit of 16 MiB"):
        q.put(big)
    with pytest.raises(gw.exception.InvalidError, match="queue item"):
        q.put_many([1, big])
    assert q.len() == 0


def test_full_partition_blocks_put_until_a_get_makes_room(q):
    q.put_many(range(MAX_PARTITION_ITEMS))
    with pytest.raises(queue.Full):
        q.put("one more", block=False)
    with pytest.raises(queue.Full):
        q.put("one more", timeout=0.1)
    putter = Background(lambda: q.put("one more", timeout=20))
    assert q.get() == 0
    putter.result()
    assert q.len() == MAX_PARTITION_ITEMS
    q.clear()


def test_missing_queue_errors(server):
    name = f"q-{uuid.uuid4().hex[:12]}"
    with pytest.raises(gw.exception.NotFoundError, match="create_if_missing=True") as info:
        gw.Queue.from_name(name).put(1)
    assert f"gw queue create {name}" in str(info.value)
    gw.Queue.from_name(name, create_if_missing=True).put(1)
    assert gw.Queue.from_name(name).get() == 1
    gw.Queue.delete(name)
    with pytest.raises(gw.exception.NotFoundError):
        gw.Queue.from_name(name).len()


def test_deleting_a_queue_ends_a_blocked_get(server):
    with gw.Queue.ephemeral() as q:
        getter = Background(lambda: _raised(lambda: q.get(timeout=20)))
        time.sleep(0.2)  # lets the get park on the server; the result does not depend on it
    assert isinstance(getter.result(), gw.exception.NotFoundError)


def test_handles_pickle_as_references(q):
    q.put("v")
    copy = pickle.loads(pickle.dumps(q))
    assert copy.object_id == q.object_id and copy.get() == "v"


def test_items_survive_a_server_restart(private_server):
    q = gw.Queue.from_name("durable", create_if_missing=True)
    d = gw.Dict.from_name("durable", create_if_missing=True)
    q.put_many([1, 2])
    q.put("p", partition="p")
    d["k"] = "v"
    private_server.restart()
    assert q.get_many(5) == [1, 2]
    assert gw.Queue.from_name("durable").get(partition="p") == "p"
    assert gw.Dict.from_name("durable")["k"] == "v"


def test_blocked_get_survives_a_server_restart(private_server):
    q = gw.Queue.from_name("restart", create_if_missing=True)
    q.len()  # the client has reached this server: it reconnects across the restart
    getter = Background(lambda: q.get(timeout=30))
    time.sleep(0.2)  # lets the get park on the server; the result does not depend on it
    private_server.restart()
    q.put("after restart")
    assert getter.result(timeout=40) == "after restart"


@pytest.fixture(scope="module")
def running(server):
    with dict_queue_app.app.run():
        yield


def test_container_puts_into_a_queue_passed_as_argument(running, q):
    assert dict_queue_app.produce.remote(q, 3) == 3
    assert q.get_many(10) == ["item-0", "item-1", "item-2"]
    dict_queue_app.produce.remote(q, 1, partition="p")
    assert q.get(partition="p") == "item-0"


def test_container_blocks_on_a_queue_until_the_caller_puts(running, q):
    call = dict_queue_app.consume.spawn(q, 30)
    q.put("for the container")
    assert call.get(timeout=60) == "for the container"


def test_container_uses_a_dict_by_name(running):
    name = f"d-{uuid.uuid4().hex[:12]}"
    gw.Dict.from_name(name, create_if_missing=True)["mine"] = 1
    assert dict_queue_app.remember.remote(name, "theirs", 2) == ["mine", "theirs"]
    assert gw.Dict.from_name(name)["theirs"] == 2


def _raised(fn: Callable[[], Any]) -> BaseException | None:
    try:
        fn()
    except BaseException as e:
        return e
    return None
