"""Per-container control groups, v2 (unified) and v1 (one hierarchy per controller).

Each container gets ``<server's cgroup>/gworker/<container id>``: nested under the cgroup the server
runs in, so whatever limits the server itself lives under still bound its containers, and nothing
outside the server's own subtree is touched. A process joins its group from the pre-exec hook of its
own fork, before it can start anything, so no child escapes the limits.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

GROUP = "gworker"
CPU_PERIOD_US = 100_000
_MIN_QUOTA_US = 1_000
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class Limits:
    """What a container may use. ``cpu``: cores of CPU time (a hard CFS quota); ``cpu_share``:
    its relative weight when the machine is busy; ``memory_mib``: a hard limit, over which the
    kernel kills it (OOM); ``pids``: at most this many processes and threads."""

    cpu: float | None = None
    memory_mib: int | None = None
    cpu_share: float | None = None
    pids: int | None = None


@dataclass(frozen=True)
class Mount:
    path: Path  # where the hierarchy is mounted
    root: str  # the hierarchy path the mount shows at ``path``
    fstype: str
    options: frozenset[str]


def mounts() -> list[Mount]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if rfields and rfields[0] in ("cgroup", "cgroup2"):
            options = frozenset(rfields[2].split(",")) if len(rfields) > 2 else frozenset()
            out.append(Mount(Path(fields[4]), fields[3], rfields[0], options))
    return out


def own_paths() -> dict[str, str]:
    """This process's cgroup per controller ("" for the unified hierarchy)."""
    out = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def directory(mount: Mount, path: str) -> Path:
    rel = path[len(mount.root) :] if path.startswith(mount.root) else path
    return mount.path / rel.lstrip("/")


def check_id(container_id: str) -> str:
    if not _SAFE_ID.match(container_id):
        raise ValueError(f"container id {container_id!r} is not safe as a cgroup name")
    return container_id


def write(path: Path, value: str) -> None:
    path.write_text(value)


def read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def keyed(text: str) -> dict[str, int]:
    """Parse ``key value`` lines (memory.events, memory.oom_control, cpu.stat)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def remove(group: Path) -> None:
    """Kill what is left in ``group`` and remove it (rmdir fails while tasks remain)."""
    if not group.exists():
        return
    for _ in range(50):
        pids = read(group / "cgroup.procs").split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


class CgroupV2:
    """cgroup v2: memory.max (swap off, the whole group killed together on OOM), cpu.max,
    cpu.weight, pids.max; OOM kills counted in memory.events."""

    name = "cgroup-v2"
    CONTROLLERS = ("memory", "cpu", "pids")

    def __init__(self, base: Path) -> None:
        self.base = base  # <server's cgroup>/gworker, controllers enabled for its children

    def group(self, container_id: str) -> Path:
        return self.base / check_id(container_id)

    def create(self, container_id: str, limits: Limits) -> list[Path]:
        g = self.group(container_id)
        g.mkdir(exist_ok=True)
        if limits.memory_mib is not None:
            write(g / "memory.max", str(limits.memory_mib * 1024 * 1024))
            with contextlib.suppress(OSError):
                write(g / "memory.swap.max", "0")
            with contextlib.suppress(OSError):
                write(g / "memory.oom.group", "1")
        if limits.cpu is not None:
            quota = max(_MIN_QUOTA_US, int(limits.cpu * CPU_PERIOD_US))
            write(g / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        if limits.cpu_share is not None:
            self.set_cpu_share(container_id, limits.cpu_share)
        if limits.pids is not None:
            write(g / "pids.max", str(limits.pids))
        return [g / "cgroup.procs"]

    def oom_killed(self, container_id: str) -> bool:
        return keyed(read(self.group(container_id) / "memory.events")).get("oom_kill", 0) > 0

    def cpu_throttled(self, container_id: str) -> int:
        return keyed(read(self.group(container_id) / "cpu.stat")).get("nr_throttled", 0)

    def usage(self, container_id: str) -> tuple[float, float] | None:
        """(core-seconds used, peak memory in MiB) so far; None when the group is gone."""
        g = self.group(container_id)
        cpu = keyed(read(g / "cpu.stat")).get("usage_usec")
        if cpu is None:
            return None
        # memory.peak since Linux 5.19; before it the current use is the best there is
        peak = read(g / "memory.peak").strip() or read(g / "memory.current").strip()
        return cpu / 1e6, int(peak) / (1024 * 1024) if peak.isdigit() else 0.0

    def set_cpu_share(self, container_id: str, share: float) -> None:
        weight = min(10_000, max(1, round(share * 100)))
        write(self.group(container_id) / "cpu.weight", str(weight))

    def release(self, container_id: str) -> None:
        remove(self.group(container_id))

    def describe(self) -> dict[str, str]:
        return {
            "mechanism": self.name,
            "cgroup": str(self.base),
            "cpu": "cpu.max (CFS quota) and cpu.weight",
            "memory": "memory.max, swap off; over it the container is OOM-killed",
        }


class CgroupV1:
    """cgroup v1: memory.limit_in_bytes (and memsw, so swap cannot stretch it), cpu.cfs_quota_us,
    cpu.shares, pids.max; OOM kills counted by ``oom_kill`` in memory.oom_control."""

    name = "cgroup-v1"

    def __init__(self, bases: dict[str, Path]) -> None:
        self.bases = bases  # controller -> <that hierarchy's server cgroup>/gworker

    def group(self, controller: str, container_id: str) -> Path:
        return self.bases[controller] / check_id(container_id)

    def create(self, container_id: str, limits: Limits) -> list[Path]:
        groups = {c: self.group(c, container_id) for c in self.bases}
        for g in groups.values():
            g.mkdir(exist_ok=True)
        mem = groups["memory"]
        if limits.memory_mib is not None:
            limit = str(limits.memory_mib * 1024 * 1024)
            write(mem / "memory.limit_in_bytes", limit)
            with contextlib.suppress(OSError):
                write(mem / "memory.memsw.limit_in_bytes", limit)
        cpu = groups.get("cpu")
        if cpu is not None and limits.cpu is not None:
            write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            quota = max(_MIN_QUOTA_US, int(limits.cpu * CPU_PERIOD_US))
            write(cpu / "cpu.cfs_quota_us", str(quota))
        if cpu is not None and limits.cpu_share is not None:
            self.set_cpu_share(container_id, limits.cpu_share)
        pids = groups.get("pids")
        if pids is not None and limits.pids is not None:
            write(pids / "pids.max", str(limits.pids))
        return [g / "cgroup.procs" for g in groups.values()]

    def oom_killed(self, container_id: str) -> bool:
        mem = self.group("memory", container_id)
        control = keyed(read(mem / "memory.oom_control"))
        if "oom_kill" in control:  # kernels since 4.13
            return control["oom_kill"] > 0
        failcnt = read(mem / "memory.failcnt").strip()  # older: the limit was hit at least once
        return failcnt.isdigit() and int(failcnt) > 0

    def set_cpu_share(self, container_id: str, share: float) -> None:
        if "cpu" in self.bases:
            write(self.group("cpu", container_id) / "cpu.shares", str(max(2, round(share * 1024))))

    def usage(self, container_id: str) -> tuple[float, float] | None:
        """(core-seconds used, peak memory in MiB) so far; None without a cpuacct hierarchy."""
        if "cpuacct" not in self.bases:
            return None
        cpu = read(self.group("cpuacct", container_id) / "cpuacct.usage").strip()
        if not cpu.isdigit():
            return None
        peak = read(self.group("memory", container_id) / "memory.max_usage_in_bytes").strip()
        return int(cpu) / 1e9, int(peak) / (1024 * 1024) if peak.isdigit() else 0.0

    def cpu_throttled(self, container_id: str) -> int:
        if "cpu" not in self.bases:
            return 0
        return keyed(read(self.group("cpu", container_id) / "cpu.stat")).get("nr_throttled", 0)

    def release(self, container_id: str) -> None:
        for c in self.bases:
            remove(self.group(c, container_id))

    def describe(self) -> dict[str, str]:
        cpu = "cpu.cfs_quota_us (CFS quota) and cpu.shares" if "cpu" in self.bases else "none"
        return {
            "mechanism": self.name,
            "cgroup": ", ".join(f"{c}: {p}" for c, p in sorted(self.bases.items())),
            "cpu": cpu,
            "memory": "memory.limit_in_bytes (+memsw); over it the container is OOM-killed",
        }
