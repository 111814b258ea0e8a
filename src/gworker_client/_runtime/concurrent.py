"""The concurrent input loop: up to ``max_inputs`` inputs at once on one event loop.

Async methods run on the loop; sync ones in a thread pool. One task long-polls for inputs while
free slots remain; another pushes outputs as they finish, so a slow poll never holds a result
back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import time
from collections.abc import Callable
from typing import Any

from .. import _config
from .._context import running_input
from .._serialization import error_envelope
from . import buckets
from .batching import Batcher
from .container import Container, encode_result, failure_output, loads


class SyncTimeout(Exception):
    """A sync input outlived its timeout in a thread that cannot be interrupted."""


class ConcurrentLoop:
    def __init__(self, container: Container) -> None:
        self.c = container
        self.max_inputs = container.service.max_inputs
        self.pool = concurrent.futures.ThreadPoolExecutor(self.max_inputs, "gw-input")
        self.io = concurrent.futures.ThreadPoolExecutor(2, "gw-io")
        self.inflight = 0
        self.outputs: list[list[Any]] = []
        self.changed = asyncio.Event()
        self.stopping = False
        self.batchers: dict[str | None, Batcher] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.c.loop = loop
        for name, target in self.c.service.targets.items():
            if target.batching:
                self.batchers[name] = Batcher(
                    target.fn,
                    target.batching.max_batch_size,
                    target.batching.wait_ms,
                    functools.partial(self._invoke, target.is_async),
                )
        pusher = loop.create_task(self._push_outputs())
        try:
            await self._pull_inputs()
            while self.inflight:
                await self._wait_change()
        finally:
            self.stopping = True
            self.changed.set()
            await pusher
            self.pool.shutdown(wait=False, cancel_futures=True)

    async def _wait_change(self) -> None:
        await self.changed.wait()
        self.changed.clear()

    async def _post(self, outputs: list[list[Any]], slots: int) -> dict[str, Any]:
        wait = _config.LONG_POLL_S if slots and not self.inflight else (1.0 if slots else 0)
        return await asyncio.get_running_loop().run_in_executor(
            self.io, self.c.channel.poll, outputs, slots, wait
        )

    async def _pull_inputs(self) -> None:
        loop = asyncio.get_running_loop()
        while not (self.stopping or self.c.stopping):
            slots = self.max_inputs - self.inflight
            if slots <= 0:
                await self._wait_change()
                continue
            resp = await self._post([], slots)
            if resp["stop"]:
                return
            for input_id, payload, *call in resp["inputs"]:
                self.inflight += 1
                loop.create_task(self._run_input(input_id, payload, call[0] if call else ""))

    async def _push_outputs(self) -> None:
        while not (self.stopping and not self.outputs):
            if not self.outputs:
                await self._wait_change()
                continue
            batch, self.outputs = self.outputs, []
            await self._post(batch, 0)

    async def _invoke(self, is_async: bool, call: Callable[[], Any]) -> Any:
        timeout = self.c.timeout
        if is_async:
            return await asyncio.wait_for(call(), timeout)
        # the input's context (current_input_id, ...) goes along to the worker thread
        run = functools.partial(contextvars.copy_context().run, call)
        future = asyncio.get_running_loop().run_in_executor(self.pool, run)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            # the thread cannot be stopped: finish the other inputs, then replace the container
            self.c.stopping = True
            raise SyncTimeout() from None

    async def _run_input(self, input_id: int, payload: bytes, call_id: str) -> None:
        start = time.monotonic()
        with running_input(call_id, input_id):  # current_input_id() and friends
            try:
                args, kwargs, method = loads(payload)
                target = self.c.service.target(method)
                if method in self.batchers or (method is None and None in self.batchers):
                    result = await self.batchers[method].submit(args, kwargs)
                else:
                    call = functools.partial(target.fn, *args, **kwargs)
                    result = await self._invoke(target.is_async, call)
                status, data = encode_result(result)
            except (asyncio.TimeoutError, SyncTimeout):
                status, data = "timeout", error_envelope("timeout", self.c.timeout_message())
            except BaseException as e:  # noqa: B036 - any user error fails this input only
                status, data = failure_output(e)
        if buckets.mounted():  # the call's writes reach its bucket mounts before its result
            await asyncio.to_thread(buckets.sync_all)
        self.outputs.append([input_id, status, data, time.monotonic() - start])
        self.inflight -= 1
        self.changed.set()
