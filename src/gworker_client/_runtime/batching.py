"""Coalescing concurrent inputs into one call of a ``@gw.batched`` method."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .._context import several_inputs


class BatchError(Exception):
    """A batch call broke its contract (e.g. returned a list of the wrong length)."""


class Batcher:
    """Collects inputs for one method; calls it with at most ``max_batch_size`` of them, after
    waiting at most ``wait_ms`` for the batch to fill.

    One batch runs at a time: the next one fills while it runs and starts the moment it ends.
    Two model calls at once would only split the same cores (or GPU) between them.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        max_batch_size: int,
        wait_ms: int,
        call: Callable[[Callable[..., Any]], Awaitable[Any]],
    ) -> None:
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.wait_s = wait_ms / 1000
        self.call = call  # runs fn() (sync in a thread, async on the loop) under the timeout
        self.names = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self.pending: list[tuple[dict[str, Any], asyncio.Future[Any]]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.running = False

    def submit(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        bound = dict(zip(self.names, args))
        bound.update(kwargs)
        self.pending.append((bound, future))
        if self.running:
            return future  # starts when the running batch ends
        if len(self.pending) >= self.max_batch_size:
            self._start()
        elif self.timer is None:
            self.timer = loop.call_later(self.wait_s, self._start)
        return future

    def _start(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.running or not self.pending:
            return
        batch = self.pending[: self.max_batch_size]
        self.pending = self.pending[self.max_batch_size :]
        self.running = True
        asyncio.get_running_loop().create_task(self._run(batch))

    def _finished(self) -> None:
        self.running = False
        if len(self.pending) >= self.max_batch_size:
            self._start()
        elif self.pending:  # a partial batch waited while the last one ran: give it wait_ms
            self.timer = asyncio.get_running_loop().call_later(self.wait_s, self._start)

    async def _run(self, batch: list[tuple[dict[str, Any], asyncio.Future[Any]]]) -> None:
        try:
            with several_inputs():
                await self._call(batch)
        finally:
            self._finished()

    async def _call(self, batch: list[tuple[dict[str, Any], asyncio.Future[Any]]]) -> None:
        futures = [f for _, f in batch]
        try:
            lists = self._columns([b for b, _ in batch])
            results = await self.call(lambda: self.fn(**lists))
            if not isinstance(results, list) or len(results) != len(batch):
                got = (
                    f"{len(results)} results" if isinstance(results, list) else repr(type(results))
                )
                raise BatchError(
                    f"batched method {self.fn.__qualname__} must return a list with one result"
                    f" per input: it got a batch of {len(batch)} and returned {got}"
                )
        except BaseException as e:  # every input of the batch gets the error
            for f in futures:
                if not f.done():
                    f.set_exception(e)
            return
        for f, r in zip(futures, results):
            if not f.done():
                f.set_result(r)

    def _columns(self, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        keys = set(rows[0])
        for row in rows:
            if set(row) != keys:
                raise BatchError(
                    f"inputs of batched method {self.fn.__qualname__} must all pass the same"
                    f" arguments; got {sorted(keys)} and {sorted(row)}"
                )
        return {k: [row[k] for row in rows] for k in keys}
