"""``Queue``: a persistent, partitioned FIFO queue shared by functions and local code."""

from __future__ import annotations

import queue as stdlib_queue
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from . import _api, _config
from . import exception as exc
from ._aio import blocking, iterating
from ._object import MAX_VALUE_BYTES, _Object, pickled, request_id
from ._protocol.limits import MAX_REQUEST_BYTES, MiB
from ._protocol.objects import ObjectKind
from ._serialization import deserialize

# Most items one partition holds; a put beyond it waits for room, then raises ``queue.Full``.
MAX_PARTITION_ITEMS = 100_000
# Longest partition key, in UTF-8 bytes.
MAX_PARTITION_KEY_BYTES = 64
# Most items one ``get_many`` returns (it may return fewer when they are large).
MAX_GET_ITEMS = 1000


def partition_problem(partition: object) -> str | None:
    """Why ``partition`` cannot name a partition, or None when it can (None: the default one)."""
    if partition is None:
        return None
    if isinstance(partition, str) and 0 < len(partition.encode()) <= MAX_PARTITION_KEY_BYTES:
        return None
    return (
        f"queue partition {partition!r} is not valid: use a non-empty string of at most"
        f" {MAX_PARTITION_KEY_BYTES} bytes, or None for the default partition"
    )


class Queue(_Object):
    """A persistent FIFO queue, shared by every function and client of an environment.

    ::

        q = gw.Queue.from_name("jobs", create_if_missing=True)
        q.put({"url": url})            # from anywhere: local code, functions, other apps
        job = q.get()                  # blocks until an item arrives (the server holds the wait)
        batch = q.get_many(10, timeout=5)

        with gw.Queue.ephemeral() as q:   # an anonymous queue, deleted when the block exits
            worker.spawn(q)

    Items are any picklable value of at most 16 MiB pickled (``MAX_VALUE_BYTES``); a larger one
    raises ``InvalidError`` and nothing is written. Items are stored in the server's database and
    survive its restart.

    Partitions: every method takes ``partition=`` (a string of 1 to 64 bytes); each partition is
    its own FIFO of at most ``MAX_PARTITION_ITEMS`` (100,000) items. ``None`` is the default
    partition.

    Handles pickle as a reference (name or id, and environment), so a Queue can be passed to a
    function or captured by one.
    """

    _kind = ObjectKind.QUEUE

    # -- putting -------------------------------------------------------------------------------

    @blocking
    def put(
        self,
        v: Any,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
    ) -> None:
        """Add ``v`` at the end of the partition.

        If the partition is full, wait for room (at most ``timeout`` seconds when given) when
        ``block`` is True, else raise ``queue.Full`` at once; ``queue.Full`` also when the wait
        times out.
        """
        self.put_many([v], block, timeout, partition=partition)

    @blocking
    def put_many(
        self,
        vs: Iterable[Any],
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
    ) -> None:
        """Add every value of ``vs``, in order, all at once: either all are added or none.

        Waiting for room works as in ``put``.
        """
        _check(partition, timeout)
        values = [pickled(v, "queue item", MAX_VALUE_BYTES) for v in vs]
        if not values:
            return
        if len(values) > MAX_PARTITION_ITEMS:
            raise exc.InvalidError(
                f"cannot put {len(values)} items at once: a partition holds at most"
                f" {MAX_PARTITION_ITEMS}"
            )
        size = sum(len(v) for v in values)
        if size > MAX_REQUEST_BYTES - MiB:  # all at once means one request
            raise exc.InvalidError(
                f"cannot put {size} bytes of items at once: one put_many carries at most"
                f" {MAX_REQUEST_BYTES - MiB}; split it into several"
            )
        self._put(values, block, timeout, partition)

    def _put(
        self, values: list[bytes], block: bool, timeout: float | None, partition: str | None
    ) -> None:
        deadline = _deadline(block, timeout)
        req = {"put_id": request_id(), "partition": partition, "values": values}
        while True:  # one long-poll per round while the partition is full
            wait = _wait_left(deadline)
            resp = _api.client().post(self._url("put"), {**req, "timeout": wait}, timeout=wait + 60)
            if resp["ok"]:
                return
            if _expired(deadline):
                raise stdlib_queue.Full(
                    f"{self!r} partition {partition!r} is full ({MAX_PARTITION_ITEMS} items)"
                )

    # -- getting -------------------------------------------------------------------------------

    @blocking
    def get(
        self, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> Any | None:
        """Remove and return the partition's first item.

        With ``block`` (the default), wait for one to arrive: forever, or at most ``timeout``
        seconds and then raise ``queue.Empty`` (the standard library's), as Modal does. The
        server holds the wait, so an item put by anyone is returned as soon as it is stored.
        With ``block=False``, return None at once when the partition is empty (``timeout`` is
        ignored).
        """
        values = self._take(1, block, timeout, partition)
        return values[0] if values else None

    @blocking
    def get_many(
        self,
        n_values: int,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
    ) -> list[Any]:
        """Remove and return up to ``n_values`` items in FIFO order (at most ``MAX_GET_ITEMS``).

        Returns what is there; with ``block``, first waits as ``get`` does for at least one, and
        raises ``queue.Empty`` when ``timeout`` passes without any; with ``block=False``, returns
        ``[]`` at once when there is none.
        """
        if isinstance(n_values, bool) or not isinstance(n_values, int) or n_values < 1:
            raise exc.InvalidError(f"n_values={n_values!r} must be a positive integer")
        return self._take(n_values, block, timeout, partition)

    def _take(self, n: int, block: bool, timeout: float | None, partition: str | None) -> list[Any]:
        _check(partition, timeout)
        if not block and timeout is not None:
            warnings.warn("Queue: timeout is ignored when block=False", stacklevel=3)
        values = self._take_until(n, _deadline(block, timeout), partition)
        if not values and block:
            # Modal's contract (and the standard library's): a blocking get that times out
            # raises; apps loop on ``except queue.Empty`` to know a queue has drained
            raise stdlib_queue.Empty(f"{self!r} got no item within timeout={timeout} s")
        return values

    def _take_until(self, n: int, deadline: float | None, partition: str | None) -> list[Any]:
        """Up to ``n`` items, waiting for the first until ``deadline``; ``[]`` when none came."""
        while True:  # one long-poll per round; each has its own id so a retry is idempotent
            wait = _wait_left(deadline)
            resp = _api.client().post(
                self._url("get"),
                {"get_id": request_id(), "partition": partition, "n": n, "timeout": wait},
                timeout=wait + 60,
            )
            if resp["values"] or _expired(deadline):
                return [deserialize(v) for v in resp["values"]]

    @iterating
    def iterate(
        self, *, partition: str | None = None, item_poll_timeout: float = 0.0
    ) -> Iterator[Any]:
        """Yield the partition's items in order without removing them.

        After the last item, wait up to ``item_poll_timeout`` seconds for another one; stop when
        none comes.
        """
        _check(partition, item_poll_timeout)
        after = 0
        deadline = time.monotonic() + item_poll_timeout
        while True:
            items = self._peek(partition, after, MAX_GET_ITEMS, _wait_left(deadline))
            for seq, value in items:
                after = seq
                yield deserialize(value)
            if items:
                deadline = time.monotonic() + item_poll_timeout
            elif _expired(deadline):
                return

    def _peek(
        self, partition: str | None, after: int, n: int, wait: float
    ) -> list[tuple[int, bytes]]:
        """Up to ``n`` items after position ``after``, left in place; waits up to ``wait`` s."""
        resp = _api.client().post(
            self._url("peek"),
            {"partition": partition, "after": after, "n": n, "timeout": wait},
            timeout=wait + 60,
        )
        return [(seq, value) for seq, value in resp["items"]]

    # -- size and clearing -------------------------------------------------------------------

    @blocking
    def len(self, *, partition: str | None = None, total: bool = False) -> int:
        """How many items the partition holds; with ``total=True``, all partitions together."""
        if total and partition is not None:
            raise exc.InvalidError("Queue.len: pass either partition= or total=True, not both")
        _check(partition, None)
        query = "total=1" if total else f"partition={quote(partition or '', safe='')}"
        return int(_api.client().get(f"{self._url('len')}?{query}")["len"])

    @blocking
    def clear(self, *, partition: str | None = None, all: bool = False) -> None:
        """Remove every item of the partition; with ``all=True``, of every partition."""
        if all and partition is not None:
            raise exc.InvalidError("Queue.clear: pass either partition= or all=True, not both")
        _check(partition, None)
        _api.client().post(self._url("clear"), {"partition": partition, "all": all})


def _check(partition: object, timeout: float | None) -> None:
    problem = partition_problem(partition)
    if problem:
        raise exc.InvalidError(problem)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise exc.InvalidError(f"timeout={timeout!r} must be a number of seconds >= 0, or None")


def _deadline(block: bool, timeout: float | None) -> float | None:
    """When waiting stops: now for a non-blocking call, never (None) for ``timeout=None``."""
    if not block:
        return time.monotonic()
    return None if timeout is None else time.monotonic() + timeout


def _wait_left(deadline: float | None) -> float:
    """How long the next long-poll may wait: what is left, at most ``LONG_POLL_S``."""
    if deadline is None:
        return _config.LONG_POLL_S
    return max(0.0, min(deadline - time.monotonic(), _config.LONG_POLL_S))


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline
