"""Sandboxes started ahead of time, so that ``Sandbox.create`` takes a running one off a shelf.

Starting a sandbox costs a bubblewrap set-up, a network stack and an interpreter for its agent:
a few hundred milliseconds on a busy machine, most of the time to a first output. A shelf per
launch (image, workdir, limits, network) that was asked for recently holds ``size`` idle
sandboxes; each one taken is replaced in the background. Idle ones hold no user data and no
environment (that comes with each command), so any caller with the same launch can take one.
Only the ``MAX_SHELVES`` most recently used launches keep a shelf; ``GW_SANDBOX_WARM=0`` turns
the pool off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from .sandbox import SandboxLaunch, SandboxProcess

log = logging.getLogger("gworker.backends.warm_pool")
MAX_SHELVES = 4
REFILL_DELAY_S = 0.1

Start = Callable[[SandboxLaunch, bool], Awaitable[SandboxProcess]]  # (launch, warm)


class WarmPool:
    def __init__(self, start: Start, size: int) -> None:
        self._start = start
        self.size = size
        self._shelves: OrderedDict[str, list[SandboxProcess]] = OrderedDict()
        self._filling: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def take(self, launch: SandboxLaunch) -> SandboxProcess:
        """A running sandbox for ``launch``: a warm one if the shelf has it, else a new one."""
        if not launch.poolable:
            return await self._start(launch, False)
        key = launch.key()
        shelf = self._shelves.get(key, [])
        while shelf:
            process = shelf.pop(0)  # the oldest: the likeliest to be ready
            if process.alive:
                process.activate()
                # its replacement starts a moment later, so that starting it does not compete
                # with this one's first command for the CPU
                loop = asyncio.get_running_loop()
                loop.call_later(REFILL_DELAY_S, self._refill, key, launch)
                return process
            self._spawn(_discard(process))
        process = await self._start(launch, False)
        self._refill(key, launch)
        return process

    def _refill(self, key: str, launch: SandboxLaunch) -> None:
        if self.size <= 0 or self._closed or key in self._filling:
            return
        self._shelves.setdefault(key, [])
        self._shelves.move_to_end(key)
        while len(self._shelves) > MAX_SHELVES:
            _, old = self._shelves.popitem(last=False)
            for process in old:
                self._spawn(_discard(process))
        self._filling.add(key)
        self._spawn(self._fill(key, launch))

    async def _fill(self, key: str, launch: SandboxLaunch) -> None:
        try:
            while key in self._shelves and len(self._shelves[key]) < self.size:
                process = await self._start(launch, True)
                if key in self._shelves:
                    self._shelves[key].append(process)
                else:  # evicted meanwhile
                    await _discard(process)
        except Exception:
            log.exception("starting a warm sandbox failed; the next create starts its own")
        finally:
            self._filling.discard(key)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def idle(self) -> int:
        return sum(len(s) for s in self._shelves.values())

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        shelves, self._shelves = list(self._shelves.values()), OrderedDict()
        for shelf in shelves:
            for process in shelf:
                await _discard(process)


async def _discard(process: SandboxProcess) -> None:
    process.kill()
    with contextlib.suppress(Exception):
        await process.wait()
