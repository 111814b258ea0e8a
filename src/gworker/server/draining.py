"""The control plane's stop: once it begins, every long-poll ends at once.

A long-poll (a caller waiting for outputs or logs, a blocking ``Queue.get``, an image build's
log) would otherwise hold the server's shutdown for as long as it asked to wait. Waits go through
``wait_for``, which ends like a timeout when the stop begins; the caller then asks again, is
answered 503 (``http.py``) and retries until the server is back, as after a lost connection.

One control plane runs per process, so the flag is the process's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class Draining:
    def __init__(self) -> None:
        self.stopping = False
        self._waiters: set[asyncio.Future[None]] = set()

    def begin(self) -> None:
        """End every wait now and every later one at once."""
        self.stopping = True
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, aw: Awaitable[T], timeout: float | None) -> T:
        """``asyncio.wait_for`` that also ends (with ``TimeoutError``) when the stop begins."""
        task: asyncio.Future[T] = asyncio.ensure_future(aw)
        if self.stopping:
            task.cancel()
            raise asyncio.TimeoutError
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(stop)
        try:
            waits: set[asyncio.Future[Any]] = {task, stop}
            done, _ = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._waiters.discard(stop)
            stop.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            return task.result()
        raise asyncio.TimeoutError


DRAINING = Draining()
