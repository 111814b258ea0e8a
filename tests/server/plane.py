"""A scheduler over a real store and the fake backend, for unit tests: the test plays the
containers (polls, outputs, probes) and the backend (exits)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from fakes import FakeBackend
from gworker.server.scheduler import FunctionState, Input, Scheduler
from gworker.store import Store
from gworker_client._protocol import ContainerOutput, FunctionSpec, OutputStatus, PublishedFunction

BASE_SPEC = FunctionSpec(
    timeout=60.0,
    cpu=0.125,
    memory=128,
    min_workers=0,
    max_workers=4,
    buffer_workers=0,
    idle_timeout=60.0,
    image={"version": 1, "layers": []},
)


class Plane:
    def __init__(self, root: Path, capacity: int = 8) -> None:
        self.store = Store(root / "state.db")
        self.backend = FakeBackend(capacity)
        self.scheduler = Scheduler(
            self.store, self.backend, "http://fake", secret_env=lambda store, refs: {}
        )
        self._seen = 0

    async def __aenter__(self) -> Plane:
        await self.scheduler.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.scheduler.close()
        for _ in range(3):  # let the backend's exit reports arrive before the store closes
            await asyncio.sleep(0)
        self.store.close()

    def publish(self, **spec: Any) -> str:
        app_id = "ap-" + uuid.uuid4().hex[:20]
        self.store.add_app(app_id, "test", "main", "deployed")
        self.store.commit()
        function = PublishedFunction(tag="f", spec=replace(BASE_SPEC, **spec))
        return self.scheduler.publish(app_id, "m", "blob", [function])["f"]

    def function(self, fid: str) -> FunctionState:
        return self.scheduler.functions.get(fid)

    def submit(self, fid: str, n: int = 1) -> str:
        call_id = "fc-" + uuid.uuid4().hex
        self.scheduler.submit(fid, call_id, [(i, b"args-%d" % i) for i in range(n)], n)
        return call_id

    async def started(self) -> str:
        """The id of the next container the scheduler starts."""
        for _ in range(100):
            if len(self.backend.started) > self._seen:
                self._seen += 1
                return self.backend.started[self._seen - 1].container_id
            await asyncio.sleep(0)
        raise AssertionError("no container was started")

    async def poll(
        self, cid: str, outputs: list[ContainerOutput] = (), slots: int = 1, wait: float = 0.5
    ) -> list[Input] | None:  # type: ignore[assignment]
        return await self.scheduler.poll(cid, list(outputs), slots, wait)

    def outputs(self, call_id: str) -> list[tuple[int, str, bytes]]:
        return [
            (idx, status, data) for _, idx, status, data in self.store.outputs_after(call_id, 0)
        ]


def done(
    inp: Input, status: OutputStatus = OutputStatus.SUCCESS, duration: float = 0.001
) -> ContainerOutput:
    return ContainerOutput(inp.id, status, b"result", duration)
