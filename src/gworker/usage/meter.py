"""The usage meter: one timer in the control plane that records, every second, what each running
container reserved and used (``store/usage.py`` keeps it).

Each tick asks the backend (off the event loop) for every placed container's CPU counter and peak
memory, and writes one sample per container covering the time since its last one; a container's
exit writes its last partial second (the CPU it used after the last tick went with its cgroup). A
container is metered from its start, once the backend has placed it. Cost is not computed here:
reports price the samples with the price table of the day.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .. import constants as C
from ..backends import Backend
from ..backends.metering import ResourceSample
from ..server.scheduler.state import Container
from ..store import StateStore
from ..store.usage import UsageSample, UsageSubject

log = logging.getLogger("gworker.usage")


@dataclass
class _Metered:
    since: float  # monotonic time the last sample ended
    cpu_s: float  # the CPU counter then
    peak_mib: float


class UsageMeter:
    def __init__(
        self,
        store: StateStore,
        backend: Backend,
        containers: Callable[[], list[Container]],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.backend = backend
        self.containers = containers  # the fleet's running containers
        self._clock, self._monotonic = clock, monotonic
        self._metered: dict[str, _Metered] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_compaction = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.tick()  # the seconds since the last tick
        self.store.commit()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(C.USAGE_SAMPLE_S)
            try:
                now, wall = self._monotonic(), self._clock()
                # the backend's reads (files under /sys or /proc) run off the event loop
                readings = await asyncio.to_thread(self.read, self.containers())
                self.record(readings, now, wall)
                if self._monotonic() - self._last_compaction > C.USAGE_COMPACT_EVERY_S:
                    self._last_compaction = self._monotonic()
                    self.store.compact_usage(self._clock() - C.USAGE_ROLLUP_AFTER_S)
                self.store.commit()
            except Exception:  # metering must never stop the control plane
                log.exception("usage sampling failed")

    def tick(self) -> None:
        """One sample for every placed container, covering the time since its last one."""
        now, wall = self._monotonic(), self._clock()
        self.record(self.read(self.containers()), now, wall)

    def read(self, containers: list[Container]) -> list[tuple[Container, ResourceSample]]:
        """What each placed container has used so far (safe off the event loop: backend reads
        only)."""
        out = []
        for c in containers:
            got = self.backend.container_usage(c.id)
            if got is not None:  # None: not placed yet, or gone (its exit records the rest)
                out.append((c, got))
        return out

    def record(
        self, readings: list[tuple[Container, ResourceSample]], now: float, wall: float
    ) -> None:
        alive = {c.id for c in self.containers()}
        samples = []
        for c, got in readings:
            if c.id not in alive:
                continue  # it exited while its usage was read: its exit recorded the rest
            m = self._metered.get(c.id)
            if m is None:
                self._begin(c)
                m = self._metered[c.id] = _Metered(c.started_at, 0.0, 0.0)
            sample = self._sample(c.id, m, now, wall, got.cpu_s, got.memory_mib)
            samples.append(replace(sample, gpu_memory_mib=got.gpu_memory_mib))
        if samples:
            self.store.add_usage_samples(samples)

    def exited(self, c: Container) -> None:
        """The container is gone: record its last partial second. Called inside the fleet's
        exit handling, so it never raises into it."""
        try:
            self._exited(c)
        except Exception:
            log.exception("recording the last usage of container %s failed", c.id)

    def _exited(self, c: Container) -> None:
        m = self._metered.pop(c.id, None)
        if m is None and c.ready:  # it ran, but for less than a tick
            self._begin(c)
            m = _Metered(c.started_at, 0.0, 0.0)
        if m is not None:
            now = self._monotonic()
            last = self._sample(c.id, m, now, self._clock(), m.cpu_s, m.peak_mib)
            self.store.add_usage_samples([last])

    def _sample(
        self, cid: str, m: _Metered, now: float, wall: float, cpu_s: float, peak: float
    ) -> UsageSample:
        seconds = max(0.0, now - m.since)
        sample = UsageSample(cid, wall - seconds, seconds, max(0.0, cpu_s - m.cpu_s), peak)
        m.since, m.cpu_s, m.peak_mib = now, max(cpu_s, m.cpu_s), max(peak, m.peak_mib)
        return sample

    def _begin(self, c: Container) -> None:
        fs = c.function
        name, env, token = self._app(fs.app_id)
        gpu_type, gpu_count = _gpu(c.gpu)
        self.store.add_usage_subject(
            UsageSubject(
                container_id=c.id,
                app_id=fs.app_id,
                app_name=name,
                environment=env,
                function=fs.tag,
                token_id=token,
                cpu_reserved=fs.spec.cpu,
                memory_reserved_mib=fs.spec.memory,
                gpu_type=gpu_type,
                gpu_count=gpu_count,
            )
        )

    def _app(self, app_id: str) -> tuple[str, str, str | None]:
        """Read once per container, never cached: an environment can be renamed meanwhile."""
        app = self.store.app(app_id) or {"name": app_id, "environment": "main"}
        return app["name"], app["environment"], self.store.app_token(app_id)


def _gpu(granted: str | None) -> tuple[str | None, int]:
    """``"A100-80GB:0,1"`` -> ``("A100-80GB", 2)``."""
    if not granted:
        return None, 0
    kind, _, devices = granted.partition(":")
    return kind, len([d for d in devices.split(",") if d]) or 1
