"""The warm pool's bookkeeping, with fake sandboxes (starting real ones is tested end to end)."""

from __future__ import annotations

import asyncio

import pytest

from gworker.backends import warm_pool
from gworker.backends.sandbox import SandboxLaunch
from gworker.backends.warm_pool import WarmPool


class FakeProcess:
    def __init__(self, n: int, warm: bool) -> None:
        self.n = n
        self.warm = warm
        self.alive = True
        self.active = False
        self.killed = False

    def activate(self) -> None:
        self.active = True

    def kill(self) -> None:
        self.killed = True
        self.alive = False

    async def wait(self) -> tuple[int, bool]:
        return 137, False


class Starter:
    def __init__(self) -> None:
        self.started: list[FakeProcess] = []

    async def __call__(self, launch: SandboxLaunch, warm: bool) -> FakeProcess:
        p = FakeProcess(len(self.started), warm)
        self.started.append(p)
        return p


async def settle() -> None:
    await asyncio.sleep(warm_pool.REFILL_DELAY_S * 2)  # lets background refills run


@pytest.fixture(autouse=True)
def quick_refill(monkeypatch):
    monkeypatch.setattr(warm_pool, "REFILL_DELAY_S", 0.01)


def test_first_take_starts_one_then_the_shelf_fills_and_serves():
    async def scenario() -> None:
        start = Starter()
        pool = WarmPool(start, size=2)  # type: ignore[arg-type]
        launch = SandboxLaunch({"base": "x"})
        first = await pool.take(launch)
        assert first.n == 0 and not first.warm  # cold: nothing was on the shelf
        await settle()
        assert pool.idle() == 2 and all(p.warm for p in start.started[1:])
        taken = await pool.take(launch)
        assert taken.n == 1 and taken.active  # the oldest warm one, at the normal weight
        await settle()
        assert pool.idle() == 2  # replaced
        await pool.close()
        assert pool.idle() == 0 and all(p.killed for p in start.started[2:])

    asyncio.run(scenario())


def test_dead_warm_sandboxes_are_skipped_and_launches_do_not_mix():
    async def scenario() -> None:
        start = Starter()
        pool = WarmPool(start, size=1)  # type: ignore[arg-type]
        a, b = SandboxLaunch({"base": "a"}), SandboxLaunch({"base": "a"}, block_network=True)
        await pool.take(a)
        await settle()
        (warm,) = [p for p in start.started if p.warm]
        warm.alive = False  # it died while it waited
        other = await pool.take(b)
        assert other is not warm  # another launch never gets it
        again = await pool.take(a)
        assert again is not warm and not again.warm  # the dead one is discarded
        await pool.close()

    asyncio.run(scenario())


def test_only_the_most_recent_launches_keep_a_shelf():
    async def scenario() -> None:
        start = Starter()
        pool = WarmPool(start, size=1)  # type: ignore[arg-type]
        for n in range(warm_pool.MAX_SHELVES + 2):
            await pool.take(SandboxLaunch({"base": str(n)}))
            await settle()
        assert pool.idle() == warm_pool.MAX_SHELVES
        evicted = [p for p in start.started if p.warm and p.killed]
        assert len(evicted) == 2
        await pool.close()

    asyncio.run(scenario())


def test_size_zero_keeps_nothing():
    async def scenario() -> None:
        start = Starter()
        pool = WarmPool(start, size=0)  # type: ignore[arg-type]
        await pool.take(SandboxLaunch({"base": "x"}))
        await settle()
        assert pool.idle() == 0 and len(start.started) == 1

    asyncio.run(scenario())
