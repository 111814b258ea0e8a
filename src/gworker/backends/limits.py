"""Enforcing a container's ``cpu`` and ``memory``: cgroup v2, else cgroup v1, else rlimits.

``detect()`` picks the first mechanism this machine lets the server use (``GW_LIMITS`` names one
to force it: ``cgroup-v2``, ``cgroup-v1`` or ``rlimit``) and says why others were passed over;
``describe()`` reports it for ``gw server status``. Use::

    limiter = limits.detect()
    preexec = limiter.prepare(container_id, Limits(cpu=1.0, memory_mib=512))
    ...start the container with preexec_fn=preexec...
    if limiter.oom_killed(container_id): ...   # before release: the counters go with the group
    limiter.release(container_id)

With cgroups a container over its memory limit is killed by the kernel (OOM) and ``oom_killed``
says so afterwards. rlimits are the last resort and weaker: memory is ``RLIMIT_DATA`` (allocations
fail with MemoryError inside the container instead of an OOM kill) and CPU time is not limited.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import cgroups
from .cgroups import GROUP, CgroupV1, CgroupV2, Limits

MECHANISMS = ("cgroup-v2", "cgroup-v1", "rlimit")
_SERVER_LEAF = "gworker-server"


class Limiter:
    def __init__(self, cgroup: CgroupV2 | CgroupV1 | None, notes: list[str]) -> None:
        self.cgroup = cgroup
        self.notes = notes  # why better mechanisms were not used, or what set-up did

    @property
    def mechanism(self) -> str:
        return self.cgroup.name if self.cgroup else "rlimit"

    def prepare(self, container_id: str, limits: Limits) -> Callable[[], None]:
        """Create the container's group; return the pre-exec hook that puts the child in it."""
        if self.cgroup is None:
            return _rlimit_hook(limits)
        procs = self.cgroup.create(container_id, limits)

        def join() -> None:
            pid = str(os.getpid())
            for path in procs:
                path.write_text(pid)

        return join

    def oom_killed(self, container_id: str) -> bool:
        """Whether the kernel killed a process of this container for exceeding its memory."""
        return self.cgroup.oom_killed(container_id) if self.cgroup else False

    def cpu_throttled(self, container_id: str) -> int:
        """How many CPU periods the quota held this container back (0 without cgroups)."""
        return self.cgroup.cpu_throttled(container_id) if self.cgroup else 0

    def usage(self, container_id: str) -> tuple[float, float] | None:
        """(core-seconds used, peak memory in MiB) from the container's cgroup; None when there
        is no group to ask (the caller falls back to /proc)."""
        return self.cgroup.usage(container_id) if self.cgroup else None

    def set_cpu_share(self, container_id: str, share: float) -> None:
        """Change a container's CPU weight while it runs (rlimits have no notion of weight: the
        call changes nothing there)."""
        if self.cgroup:
            self.cgroup.set_cpu_share(container_id, share)

    def release(self, container_id: str) -> None:
        """Kill anything left in the container's group and remove the group."""
        if self.cgroup:
            self.cgroup.release(container_id)

    def describe(self) -> dict[str, Any]:
        if self.cgroup:
            info: dict[str, Any] = dict(self.cgroup.describe())
        else:
            info = {
                "mechanism": "rlimit",
                "cpu": "not enforced (no usable cgroup cpu controller)",
                "memory": "RLIMIT_DATA: allocations fail with MemoryError, no OOM kill",
            }
        info["notes"] = list(self.notes)
        return info


def _rlimit_hook(limits: Limits) -> Callable[[], None]:
    def apply() -> None:
        if limits.memory_mib is not None:
            n = limits.memory_mib * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_DATA, (n, n))

    return apply


def detect(prefer: str | None = None) -> Limiter:
    prefer = prefer or os.environ.get("GW_LIMITS") or None
    if prefer is not None and prefer not in MECHANISMS:
        raise ValueError(f"GW_LIMITS={prefer!r}: expected one of {', '.join(MECHANISMS)}")
    notes: list[str] = []
    for name, setup in (("cgroup-v2", _setup_v2), ("cgroup-v1", _setup_v1)):
        if prefer not in (None, name):
            continue
        try:
            group = setup(notes)
        except OSError as e:
            group = None
            notes.append(f"{name}: {e}")
        if group is not None:
            return Limiter(group, notes)
    return Limiter(None, notes)


def _setup_v2(notes: list[str]) -> CgroupV2 | None:
    mount = next((m for m in cgroups.mounts() if m.fstype == "cgroup2"), None)
    if mount is None:
        notes.append("cgroup-v2: no cgroup2 hierarchy is mounted")
        return None
    parent = cgroups.directory(mount, cgroups.own_paths().get("", "/"))
    available = cgroups.read(parent / "cgroup.controllers").split()
    wanted = [c for c in CgroupV2.CONTROLLERS if c in available]
    if "memory" not in wanted or "cpu" not in wanted:
        notes.append(
            f"cgroup-v2: {parent} offers controllers {available or 'none'}, not memory+cpu"
        )
        return None
    if not os.access(parent, os.W_OK):
        notes.append(f"cgroup-v2: {parent} is not writable (delegate it to the server's user)")
        return None
    _enable_v2(parent, wanted, notes)
    base = parent / GROUP
    base.mkdir(exist_ok=True)
    _enable(base, wanted)
    return _probed(CgroupV2(base))


def _enable_v2(parent: Path, controllers: list[str], notes: list[str]) -> None:
    """Enable controllers for the server's children. A non-root cgroup with processes in it may not
    (the "no internal processes" rule), so the server first moves itself into a leaf of its own."""
    try:
        _enable(parent, controllers)
        return
    except OSError:
        pass
    leaf = parent / _SERVER_LEAF
    leaf.mkdir(exist_ok=True)
    (leaf / "cgroup.procs").write_text(str(os.getpid()))
    notes.append(f"cgroup-v2: moved the server into {leaf} to enable controllers below {parent}")
    _enable(parent, controllers)


def _enable(group: Path, controllers: list[str]) -> None:
    active = cgroups.read(group / "cgroup.subtree_control").split()
    missing = [c for c in controllers if c not in active]
    if missing:
        (group / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))


def _setup_v1(notes: list[str]) -> CgroupV1 | None:
    paths = cgroups.own_paths()
    bases: dict[str, Path] = {}
    # cpuacct only meters (what a container used, for usage records); it limits nothing
    for controller in ("memory", "cpu", "pids", "cpuacct"):
        mount = next(
            (m for m in cgroups.mounts() if m.fstype == "cgroup" and controller in m.options), None
        )
        if mount is None:
            notes.append(f"cgroup-v1: no {controller} hierarchy is mounted")
            continue
        base = cgroups.directory(mount, paths.get(controller, "/")) / GROUP
        try:
            base.mkdir(exist_ok=True)
        except OSError as e:
            notes.append(f"cgroup-v1: cannot create {base}: {e.strerror}")
            continue
        bases[controller] = base
    if "memory" not in bases:
        return None
    return _probed(CgroupV1(bases))


Group = TypeVar("Group", CgroupV2, CgroupV1)


def _probed(group: Group) -> Group:
    """Create and remove a throwaway group with limits: detection must not promise what fails."""
    probe = f"probe-{os.getpid()}"
    try:
        group.create(probe, Limits(cpu=1.0, memory_mib=256, cpu_share=1.0))
    finally:
        with contextlib.suppress(OSError):
            group.release(probe)
    return group
