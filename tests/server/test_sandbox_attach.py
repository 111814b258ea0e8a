"""Sandboxes.attach: concurrent attaches to one function container share one agent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gworker.server.scheduler.sandboxes import Sandboxes
from gworker.store import Store


class Agent:
    """An agent that never sends a frame and ends when killed."""

    def __init__(self) -> None:
        self.killed = asyncio.Event()
        self.volume_problem = None

    async def receive(self) -> None:
        await self.killed.wait()

    async def wait(self) -> tuple[int, bool]:
        await self.killed.wait()
        return -9, False

    def kill(self) -> None:
        self.killed.set()


def test_concurrent_attaches_start_one_agent(tmp_path: Path) -> None:
    async def run() -> None:
        sandboxes = Sandboxes(Store(tmp_path / "state.db"), start=None, secret_env=dict)
        started: list[Agent] = []

        async def start(cid: str) -> Agent:
            await asyncio.sleep(0.05)  # the agent takes a while to come up
            started.append(Agent())
            return started[-1]

        first, second = await asyncio.gather(
            sandboxes.attach("ct-1", "ap-1", start), sandboxes.attach("ct-1", "ap-1", start)
        )
        assert first is second and len(started) == 1
        assert sandboxes.attached("ct-1") and sandboxes.listing(None) == []
        started[0].kill()
        await sandboxes.wait("ct-1", 5)
        assert first.state != "running"
        third = await sandboxes.attach("ct-1", "ap-1", start)  # a fresh agent once it ended
        assert third is not first and len(started) == 2
        started[1].kill()

    asyncio.run(run())
