"""The sync and async forms that ``gworker_client._aio`` derives from one blocking function."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

from gworker_client._aio import DualContext, blocking, iterating


class Thing:
    def __init__(self) -> None:
        self.closed = False

    @blocking
    def slow(self, x: int, *, times: int = 2) -> tuple[int, str]:
        """Doubles slowly."""
        time.sleep(0.05)
        return x * times, threading.current_thread().name

    @iterating
    def count(self, n: int) -> Iterator[int]:
        try:
            yield from range(n)
        finally:
            self.closed = True


def test_blocking_form_runs_in_the_callers_thread():
    value, thread = Thing().slow(3, times=3)
    assert (value, thread) == (9, threading.current_thread().name)
    assert Thing().slow.__doc__ == "Doubles slowly."


def test_async_form_runs_in_a_worker_thread_without_blocking_the_loop():
    async def main() -> tuple[list[tuple[int, str]], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            for _ in range(5):
                ticks += 1
                await asyncio.sleep(0.001)

        thing = Thing()
        results = await asyncio.gather(thing.slow.aio(1), thing.slow.aio(2), tick())
        return list(results[:2]), ticks

    results, ticks = asyncio.run(main())
    assert [v for v, _ in results] == [2, 4]
    assert all(name != threading.current_thread().name for _, name in results)
    assert ticks == 5


def test_iterators_work_with_for_and_async_for_and_close_early():
    thing = Thing()
    assert list(thing.count(3)) == [0, 1, 2]

    async def main() -> list[int]:
        return [x async for x in thing.count.aio(4)]

    assert asyncio.run(main()) == [0, 1, 2, 3]
    it = thing.count(10)
    thing.closed = False
    assert next(it) == 0
    it.close()
    assert thing.closed


def test_dual_context_enters_with_and_async_with():
    events: list[str] = []

    class Cm:
        def __enter__(self) -> str:
            events.append("enter")
            return "value"

        def __exit__(self, *exc: object) -> None:
            events.append("exit")

    with DualContext(Cm()) as v:
        assert v == "value"

    async def main() -> None:
        async with DualContext(Cm()) as v:
            assert v == "value"

    asyncio.run(main())
    assert events == ["enter", "exit", "enter", "exit"]


def test_many_async_calls_run_at_once():
    # more calls than asyncio's default executor has threads: each waits for all the others
    n = 64
    barrier = threading.Barrier(n, timeout=30)

    class Waiter:
        @blocking
        def wait(self) -> int:
            return barrier.wait()

    async def main() -> list[int]:
        waiter = Waiter()
        return await asyncio.gather(*(waiter.wait.aio() for _ in range(n)))

    assert sorted(asyncio.run(main())) == list(range(n))
