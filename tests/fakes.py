"""A backend that places containers nowhere: for unit tests of the scheduler.

It meets the same contract as the local backend (``tests/backends/test_contract.py`` runs against
both): starts succeed while there is room, and every container's exit is reported once, later,
through ``BackendEvents.container_exited``. Tests play the containers themselves, and end one with
``exit(container_id, info)`` to stand for a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gworker.backends import BackendEvents, CapacityError, LaunchSpec, Placement
from gworker.backends.metering import ResourceSample
from gworker_client._protocol import GpuRequest, matches


class FakeBackend:
    name = "fake"

    def __init__(self, capacity: int = 8, gpus: Sequence[str] = ()) -> None:
        self.capacity = capacity  # containers at once
        self.gpus = list(gpus)  # device types, one entry per device
        self.running: dict[str, LaunchSpec] = {}
        self.started: list[LaunchSpec] = []
        self.stops: list[tuple[str, bool]] = []  # (container id, force)
        self.reaped: list[tuple[str, int | None]] = []
        self.usage: dict[str, ResourceSample] = {}  # what a test says a container has used
        self._events: BackendEvents | None = None

    def bind(self, events: BackendEvents) -> None:
        self._events = events

    def has_room(self, cpu: float, memory_mib: int, gpu: Sequence[GpuRequest] | None) -> bool:
        return len(self.running) < self.capacity and (not gpu or self.can_ever_place(gpu))

    def can_ever_place(self, gpu: Sequence[GpuRequest]) -> bool:
        return any(sum(matches(r.type, d) for d in self.gpus) >= r.count for r in gpu)

    def gpu_summary(self) -> str:
        return ", ".join(self.gpus) or "no GPUs"

    async def start(self, spec: LaunchSpec) -> Placement:
        if len(self.running) >= self.capacity:
            raise CapacityError(f"{len(self.running)} of {self.capacity} containers running")
        self.running[spec.container_id] = spec
        self.started.append(spec)
        return Placement(pid=None)

    async def stop(self, container_id: str, *, force: bool = False) -> None:
        self.stops.append((container_id, force))
        self.exit(container_id, "killed by signal SIGKILL" if force else "exit code 0")

    def exit(self, container_id: str, info: str) -> None:
        """The container's process ends: reported on the next turn of the loop, like a real
        process's exit."""
        if self.running.pop(container_id, None) is not None and self._events is not None:
            asyncio.get_running_loop().call_soon(self._events.container_exited, container_id, info)

    def container_usage(self, container_id: str) -> ResourceSample | None:
        return self.usage.get(container_id) if container_id in self.running else None

    def reap_stale(self, container_id: str, pid: int | None) -> None:
        self.reaped.append((container_id, pid))

    async def close(self) -> None:
        for cid in list(self.running):
            await self.stop(cid, force=True)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "containers": len(self.running)}
