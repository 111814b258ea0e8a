"""What a running container has used so far: CPU time and peak memory.

From its cgroup when the limiter made one (the kernel's own accounting, covering every process
the container started), else from ``/proc`` for the processes of its session (a container is
started in a session of its own, so its session id is its first process's pid).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 1024 * 1024


@dataclass(frozen=True)
class ResourceSample:
    """``cpu_s``: core-seconds used since the container started (a counter); ``memory_mib``: the
    highest memory use known (the kernel's peak with cgroups, else the current RSS)."""

    cpu_s: float
    memory_mib: float


def procfs_sample(session: int) -> ResourceSample | None:
    """CPU time (including reaped children's) and resident memory of the session's processes."""
    cpu_ticks = rss_pages = 0
    found = False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces: split after its closing parenthesis
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[3]) != session:  # field 6, sid
            continue
        found = True
        cpu_ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        rss_pages += int(fields[21])
    if not found:
        return None
    return ResourceSample(cpu_ticks / _TICKS, rss_pages * _PAGE / MIB)
