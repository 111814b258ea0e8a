"""The control plane's sandbox table with stand-in agents: attaches to one function container
share one agent; a sandbox whose ports fail, however, ends rather than leaking."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gworker.server.errors import InvalidRequest
from gworker.server.scheduler.sandboxes import Sandboxes
from gworker.store import Store
from gworker_client._protocol.sandbox import CreateSandbox


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

    async def forward(self, port: int, host: str) -> int:
        raise RuntimeError("the network stack went away")


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


def test_a_sandbox_whose_ports_fail_unexpectedly_ends(tmp_path: Path) -> None:
    async def run() -> None:
        store = Store(tmp_path / "state.db")
        store.add_app("ap-1", "a", "main", "ephemeral")
        agent = Agent()

        async def start(launch: object) -> Agent:
            return agent

        sandboxes = Sandboxes(store, start, lambda req: {}, "http://127.0.0.1:1")
        req = CreateSandbox(
            sandbox_id="sb-0123456789ab", app_id="ap-1", image={}, encrypted_ports=[80]
        )
        with pytest.raises(InvalidRequest, match="network stack went away"):
            await sandboxes.create(req)
        assert agent.killed.is_set()
        row = store.sandbox("sb-0123456789ab")
        assert row is not None and row["state"] == "failed"

    asyncio.run(run())
