"""What a running container has used so far: CPU time and peak memory.

From its cgroup when the limiter made one (the kernel's own accounting, covering every process
the container started), else from ``/proc`` for the processes of its session (a container is
started in a session of its own, so its session id is its first process's pid).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 1024 * 1024


@dataclass(frozen=True)
class ResourceSample:
    """``cpu_s``: core-seconds used since the container started (a counter); ``memory_mib``: the
    highest memory use known (the kernel's peak with cgroups, else the current RSS);
    ``gpu_memory_mib``: memory in use on its GPUs now (NVML), None when not measured."""

    cpu_s: float
    memory_mib: float
    gpu_memory_mib: float | None = None


class ProcfsSampler:
    """Sessions' CPU time (including reaped children's) and resident memory from ``/proc``.

    One scan of ``/proc`` serves every container asked about within ``max_age_s``: the meter asks
    for each container in turn on the same tick, and one pass over the processes costs what one
    container's would."""

    def __init__(self, max_age_s: float = 0.5) -> None:
        self.max_age_s = max_age_s
        self._taken = -1e9
        self._sessions: dict[int, ResourceSample] = {}

    def sample(self, session: int) -> ResourceSample | None:
        now = time.monotonic()
        if now - self._taken > self.max_age_s:
            self._sessions, self._taken = scan_sessions(), now
        return self._sessions.get(session)


def scan_sessions() -> dict[int, ResourceSample]:
    ticks: dict[int, int] = {}
    pages: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces: split after its closing parenthesis
        fields = stat[stat.rfind(")") + 2 :].split()
        sid = int(fields[3])  # field 6
        ticks[sid] = ticks.get(sid, 0) + sum(int(f) for f in fields[11:15])  # u/s/cu/cs time
        pages[sid] = pages.get(sid, 0) + int(fields[21])  # rss
    return {sid: ResourceSample(t / _TICKS, pages[sid] * _PAGE / MIB) for sid, t in ticks.items()}
