"""The local backend: each container is a subprocess of the control plane on this machine.

``cpu`` and ``memory`` are reservations: a container starts only while the sum of reservations
fits the machine (all cores, 90% of memory), as a scheduler places work; they are not yet limits
enforced on the process.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import shutil
import signal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gworker_client._protocol import GpuRequest

from .. import constants as C
from .. import isolation
from ..constants import SANDBOX_WARM, STOP_GRACE_S, nfs_dir
from ..images import BuiltImage, ImageBuilder
from . import limits
from .base import BackendEvents, CapacityError, LaunchSpec, Mount, Placement
from .container_attach import attach_agent
from .gpus import GpuInventory
from .launch import LaunchError, plan
from .metering import ProcfsSampler, ResourceSample
from .sandbox import SandboxLaunch, SandboxProcess, start_sandbox
from .warm_pool import WarmPool
from .web_network import WebNetwork

log = logging.getLogger("gworker.backends.local")


def _machine_memory_mib() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 4096


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class _Process:
    proc: asyncio.subprocess.Process
    spec: LaunchSpec
    network: WebNetwork | None = None  # its own network's slirp4netns, if it has one


class LocalBackend:
    name = "local"

    def __init__(
        self,
        home: Path,
        images: ImageBuilder,
        cpu_capacity: float | None = None,
        memory_mib: int | None = None,
    ) -> None:
        self.home = home
        self.code_cache = home / "cache" / "code"
        # containers' writable layers are tmpfs mounted over this directory, each in its own
        # mount namespace (images.overlay): it stays empty on the host
        self.scratch = home / "cache" / "images" / "scratch"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.images = images
        self._built: dict[str, BuiltImage] = {}
        self.limiter = limits.detect()
        self._procfs = ProcfsSampler()  # usage without cgroups
        if isolation.unavailable_reason():
            log.warning(
                "containers cannot start on this machine: %s", isolation.unavailable_reason()
            )
        # each container's volume mounts: <mounts_root>/<container id>/<n>, removed on exit
        self.mounts_root = home / "volumes" / "mounts"
        shutil.rmtree(self.mounts_root, ignore_errors=True)  # left by a previous server
        self.gpus = GpuInventory.detect()
        self.cpu_capacity = cpu_capacity or float(os.cpu_count() or 1)
        self.memory_capacity = memory_mib or int(_machine_memory_mib() * 0.9)
        self._procs: dict[str, _Process] = {}
        self._events: BackendEvents | None = None
        self.warm_sandboxes = WarmPool(self._start_sandbox, SANDBOX_WARM)

    def bind(self, events: BackendEvents) -> None:
        self._events = events

    def _reserved(self) -> tuple[float, int]:
        specs = [p.spec for p in self._procs.values()]
        return sum(s.cpu for s in specs), sum(s.memory_mib for s in specs)

    def has_room(self, cpu: float, memory_mib: int, gpu: Sequence[GpuRequest] | None) -> bool:
        if gpu and not self.gpus.has_room(gpu):
            return False
        used_cpu, used_mem = self._reserved()
        if not self._procs:  # one container always fits, however large its reservation
            return True
        return (
            used_cpu + cpu <= self.cpu_capacity + 1e-9
            and used_mem + memory_mib <= self.memory_capacity
        )

    def can_ever_place(self, gpu: Sequence[GpuRequest]) -> bool:
        return self.gpus.can_ever_place(gpu)

    def gpu_summary(self) -> str:
        return self.gpus.summary()

    async def start(self, spec: LaunchSpec) -> Placement:
        if not self.has_room(spec.cpu, spec.memory_mib, spec.gpu):
            cpu, mem = self._reserved()
            raise CapacityError(f"reserved cpu={cpu:g}, memory={mem} MiB")
        grant = self.gpus.grant(spec.gpu, spec.container_id) if spec.gpu else None
        # a server on a port of its choosing gets a network of its own (web_network), so its
        # replicas, and other apps' servers on the same port, never meet
        own_network = bool(spec.web_ports) and not spec.block_network
        network: WebNetwork | None = None
        try:
            image = await self._image(spec.image)
            mounts = self._host_mounts(spec)
            use_sockets = spec.block_network or own_network
            sockets = C.control_sockets(self.home) if use_sockets else None
            launch = plan(
                spec, image, mounts, grant, self.limiter, self.scratch, sockets, own_network
            )
            proc = await launch.spawn()
            if own_network:
                network = await self._network(proc, spec.web_ports)
        except BaseException:
            self.gpus.release(spec.container_id)
            self.limiter.release(spec.container_id)
            raise
        self._procs[spec.container_id] = _Process(proc, spec, network)
        asyncio.get_running_loop().create_task(self._watch(spec.container_id, proc))
        gpu = f"{grant.type}:{grant.visible_devices}" if grant else None
        return Placement(proc.pid, gpu, forwards=network.forwards if network else {})

    async def _network(
        self, proc: asyncio.subprocess.Process, ports: tuple[int, ...]
    ) -> WebNetwork:
        """The started container's own network, or (killed and reaped) the reason it failed."""
        try:
            return await WebNetwork.start(proc.pid, ports)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.communicate()
            raise

    async def start_sandbox(self, spec: SandboxLaunch) -> SandboxProcess:
        """A running sandbox (``backends/sandbox.py``), warm if one was waiting; the caller
        relays its agent's frames."""
        return await self.warm_sandboxes.take(spec)

    async def _start_sandbox(self, spec: SandboxLaunch, warm: bool) -> SandboxProcess:
        image = await self._image(spec.image)
        grant, holder = None, "sbx-gpu-" + uuid.uuid4().hex[:16]
        if spec.gpu:
            if not self.gpus.can_ever_place(spec.gpu):
                wanted = " or ".join(f"{r.type}:{r.count}" for r in spec.gpu)
                raise LaunchError(f"no GPU {wanted} on this machine (it has {self.gpus.summary()})")
            # the same inventory as functions': a device is held by one of them at a time
            grant = self.gpus.grant(spec.gpu, holder)
            if grant is None:
                raise CapacityError(f"every matching GPU is in use ({self.gpus.summary()})")
        try:
            return await start_sandbox(
                spec,
                image,
                self.limiter,
                self.scratch,
                warm=warm,
                mounts_root=self.mounts_root,
                grant=grant,
                on_exit=(lambda: self.gpus.release(holder)) if grant else None,
            )
        except BaseException:
            self.gpus.release(holder)
            raise

    async def attach(self, container_id: str) -> SandboxProcess:
        """An agent inside a running function container, for commands (``gw container exec``)."""
        entry = self._procs.get(container_id)
        if entry is None:
            raise LaunchError(f"container {container_id} is not running here")
        image = await self._image(entry.spec.image)
        return await attach_agent(container_id, entry.proc.pid, image, self.limiter)

    async def _image(self, spec: dict[str, Any]) -> BuiltImage:
        """The built image (built at publish: found in the cache; rebuilt if it was cleared)."""
        key = json.dumps(spec, sort_keys=True)
        if key not in self._built:
            self._built[key] = await asyncio.to_thread(self.images.build, spec)
        return self._built[key]

    def images_in_use(self) -> set[str]:
        """Image keys this server has started containers or sandboxes from (its layers must
        stay while they may run)."""
        return {image.key for image in self._built.values()}

    def _host_mounts(self, spec: LaunchSpec) -> list[Mount]:
        """The spec's mounts with a directory of the container's own where none is given."""
        mounts = []
        for n, m in enumerate(spec.mounts):
            if m.nfs_id is not None:
                shared = nfs_dir(self.home, m.nfs_id)
                shared.mkdir(parents=True, exist_ok=True)
                m = replace(m, host_path=str(shared))
            elif m.host_path is None:
                where = self.mounts_root / spec.container_id / str(n)
                where.mkdir(parents=True)
                m = replace(m, host_path=str(where))
            mounts.append(m)
        return mounts

    async def _pump(self, cid: str, stream_name: str, stream: asyncio.StreamReader) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await stream.read(65536):
            text = decoder.decode(chunk)
            if text and self._events:
                self._events.container_log(cid, stream_name, text)

    async def _watch(self, cid: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout and proc.stderr
        await asyncio.gather(
            self._pump(cid, "stdout", proc.stdout), self._pump(cid, "stderr", proc.stderr)
        )
        returncode = isolation.payload_returncode(await proc.wait())
        entry = self._procs.pop(cid, None)
        if entry is not None and entry.network is not None:
            await entry.network.close()
        info = describe_exit(returncode)
        if self.limiter.oom_killed(cid):  # ask before release: the counters go with the group
            limit = entry.spec.memory_limit_mib if entry else None
            info = f"out of memory (limit {limit} MiB)"
        self.limiter.release(cid)
        if (self.mounts_root / cid).exists():
            await asyncio.to_thread(shutil.rmtree, self.mounts_root / cid, True)
        self.gpus.release(cid)
        if self._events:
            try:
                self._events.container_exited(cid, info)
            except Exception:  # a scheduler bug must not hide the exit: log it loudly
                log.exception("handling the exit of container %s failed", cid)

    async def stop(self, container_id: str, *, force: bool = False) -> None:
        entry = self._procs.get(container_id)
        if entry is None:
            return
        pgid = entry.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL if force else signal.SIGTERM)
        if force:
            return
        try:
            await asyncio.wait_for(asyncio.shield(entry.proc.wait()), STOP_GRACE_S)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)

    def container_usage(self, container_id: str) -> ResourceSample | None:
        entry = self._procs.get(container_id)
        if entry is None:
            return None
        measured = self.limiter.usage(container_id)
        host = ResourceSample(*measured) if measured else self._procfs.sample(entry.proc.pid)
        gpu_mib = self.gpus.memory_used_mib(container_id)
        return replace(host, gpu_memory_mib=gpu_mib) if host and gpu_mib is not None else host

    def reap_stale(self, container_id: str, pid: int | None) -> None:
        """A container process of a previous server (its session leader's command line names
        the container id, so a reused pid is never killed), and whatever else is left in its
        cgroup: a process that left the group, or one whose start the server's death cut short
        before its pid was recorded."""
        if pid and _is_our_container(pid, container_id):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        self.limiter.release(container_id)

    async def close(self) -> None:
        await self.warm_sandboxes.close()
        for cid in list(self._procs):
            await self.stop(cid, force=True)

    def describe(self) -> dict[str, Any]:
        cpu, mem = self._reserved()
        return {
            "name": self.name,
            "containers": len(self._procs),
            "cpu_reserved": cpu,
            "cpu_capacity": self.cpu_capacity,
            "memory_reserved_mib": mem,
            "memory_capacity_mib": self.memory_capacity,
            "gpus": self.gpus.describe(),
            "gpu_source": self.gpus.source,
            "isolation": isolation.describe(),
            "limits": self.limiter.describe(),
            "sandboxes_warm": self.warm_sandboxes.idle(),
        }


def _is_our_container(pid: int, cid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return cid.encode() in f.read()
    except OSError:
        return False
