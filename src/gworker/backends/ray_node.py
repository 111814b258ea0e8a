"""What runs on a Ray node: one ``ContainerActor`` per gworker container.

Ray places the actor with the container's reservations; the actor starts the container process
on its node exactly as the local backend does on its machine (``launch.plan``: the image's
interpreter under bubblewrap, a cgroup, the granted GPUs, ``PR_SET_PDEATHSIG`` so the container
dies with the actor's worker process), then streams what happens back to the control plane as
one Ray generator: ``Started``, any number of ``Output`` and ``Usage``, and one ``Ended``. The
control plane kills the actor once it read ``Ended``, which frees its reservations.

Besides the process, the actor runs two things for its container: a relay on the node's address
through which the control plane's gateway reaches the container's web ports (``web_relay.py``;
only requests with the container's relay secret pass), and a meter that measures what the
container used (its cgroup, else ``/proc`` for its session, as the local backend does; GPU
memory from NVML) every ``USAGE_SAMPLE_S`` and sends it when it changed.

This module is imported by Ray workers on every node: gworker (the same version as the control
plane) must be installed there. It does not import ``ray`` at module level, so the control plane
can read its records without Ray's start-up cost.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgpack

from .. import isolation
from ..constants import STOP_GRACE_S, USAGE_SAMPLE_S
from ..images import BuiltImage, ImageBuilder, transfer
from . import limits
from .base import LaunchSpec, Mount
from .container_attach import attach_agent
from .gpus import Device, GpuInventory, Grant
from .launch import LaunchError, plan
from .local import describe_exit
from .metering import ProcfsSampler, ResourceSample
from .sandbox import SandboxGone, SandboxProcess

_SELF_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
# Where a node keeps images' layers, containers' scratch space and volume mount directories
# (one directory per node address below it).
NODE_DIR = Path(
    os.environ.get("GW_RAY_NODE_DIR") or Path.home() / ".cache" / "gworker" / "ray-node"
)
# How long a container's last output may take to drain from its pipes once it has exited.
PIPE_DRAIN_S = 2.0
# How long fetching one layer archive from the control plane may take.
BLOB_TIMEOUT_S = 600


@dataclass(frozen=True)
class NodeLaunch:
    """What the control plane sends a ``ContainerActor`` (pickled by Ray)."""

    spec: LaunchSpec
    manifest: str  # the image's layers in the control plane's blob store (images/transfer.py)
    blob_root: str  # that blob store's directory: read directly where the node sees it
    gpu_types: Mapping[str, str]  # node id -> the GPU type it declares
    version: str  # the control plane's gworker (``node_version``): the node's must match
    relay_secret: str  # what the container's web relay checks (``web_relay.py``)


@dataclass(frozen=True)
class Started:
    pid: int
    node_id: str
    node_ip: str
    gpu: str | None  # "A100-80GB:0,1"
    relay_port: int  # the container's web relay, on ``node_ip``
    usage: ResourceSample | None  # measured as it started


@dataclass(frozen=True)
class Usage:
    sample: ResourceSample  # what the container used so far (``metering.py``)


@dataclass(frozen=True)
class Output:
    chunks: list[tuple[str, str]]  # (stream, text)


@dataclass(frozen=True)
class Ended:
    info: str  # "exit code 0", "killed by signal SIGKILL", "out of memory (limit ...)", ...
    started: bool = True  # False: the process never started; ``info`` says why


Event = Started | Output | Usage | Ended


@dataclass(frozen=True)
class AgentEnded:
    """The last of ``agent_frames``: the agent of ``gw container exec`` has exited."""

    code: int
    oom: bool


class ContainerActor:
    """One container on this node (made a Ray actor class by the backend, ``ray.remote``)."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.stopping = False
        self.container_id = ""
        self.image: BuiltImage | None = None
        self.agent: SandboxProcess | None = None  # commands in it (``gw container exec``)

    async def run(self, launch: NodeLaunch) -> AsyncIterator[Event]:
        import ray

        from .web_relay import RelayServer

        node_id = ray.get_runtime_context().get_node_id()
        node_ip = ray.util.get_node_ip_address()
        spec = launch.spec
        grant = _grant(spec, launch.gpu_types.get(node_id), ray.get_gpu_ids())
        limiter = _limiter()
        root = NODE_DIR / node_ip  # per node, though nodes may share a machine (as in tests)
        mounts_root = root / "mounts" / spec.container_id
        relay = RelayServer(launch.relay_secret)
        try:
            if launch.version != node_version():
                raise LaunchError(
                    f"this node runs gworker {node_version()}, the control plane"
                    f" {launch.version}: install the same version on every Ray node"
                )
            if self.stopping:
                raise LaunchError("stopped before it started")
            image = self.image = await asyncio.to_thread(node_image, launch, root)
            self.container_id = spec.container_id
            scratch = root / "scratch"
            scratch.mkdir(parents=True, exist_ok=True)
            launch_plan = plan(spec, image, _mounts(spec, mounts_root), grant, limiter, scratch)
            relay_port = await relay.start(node_ip)
            self.proc = await launch_plan.spawn()
        except Exception as e:
            limiter.release(spec.container_id)
            await relay.close()
            yield Ended(f"on Ray node {node_ip}: {e}", started=False)
            return
        meter = _Meter(spec.container_id, self.proc.pid, limiter, grant)
        gpu = f"{grant.type}:{grant.visible_devices}" if grant else None
        yield Started(self.proc.pid, node_id, node_ip, gpu, relay_port, meter.read())
        try:
            async for event in _follow(self.proc, spec, limiter, meter):
                yield event
        finally:
            await relay.close()
        await asyncio.to_thread(shutil.rmtree, mounts_root, True)

    async def stop(self, force: bool) -> None:
        """SIGTERM the container's process group, SIGKILL after the grace period (at once if
        ``force``)."""
        self.stopping = True
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if force else signal.SIGTERM)
        if force:
            return
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_GRACE_S)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    # -- commands in the container: ``gw container exec`` (``ray_attach.py``) --------------------

    async def attach(self) -> None:
        """Start an agent inside the container, as the local backend does (``container_attach``);
        ``agent_frames`` then streams its frames, ``agent_send`` writes to it."""
        if self.proc is None or self.proc.returncode is not None or self.image is None:
            raise LaunchError("the container is not running any more")
        self.agent = await attach_agent(self.container_id, self.proc.pid, self.image, _limiter())

    async def agent_frames(self) -> AsyncIterator[tuple[int, int, bytes] | AgentEnded]:
        agent = self.agent
        if agent is None:
            yield AgentEnded(1, False)
            return
        while (frame := await agent.receive()) is not None:
            yield frame
        yield AgentEnded(*await agent.wait())

    async def agent_send(self, kind: int, process: int, payload: bytes) -> None:
        if self.agent is None:
            raise SandboxGone("no agent runs in this container")
        await self.agent.send(kind, process, payload)

    def agent_kill(self) -> None:
        if self.agent is not None:
            self.agent.kill()

    def ping(self) -> str:
        """The node's address (a cheap call the benchmark times against a container's)."""
        import ray

        return ray.util.get_node_ip_address()


class _Meter:
    """What one container used so far, measured on its node as the local backend measures it:
    its cgroup (the kernel's accounting of all its processes), else ``/proc`` for its session;
    GPU memory from NVML where the node's GPUs are real."""

    def __init__(self, cid: str, pid: int, limiter: limits.Limiter, grant: Grant | None) -> None:
        self.cid, self.pid, self.limiter = cid, pid, limiter
        self.procfs = ProcfsSampler()
        self.gpus: GpuInventory | None = None
        if grant is not None and _node_gpu_source() == "NVML":
            held = [Device(i, grant.type, grant.type, holder=cid) for i in grant.indices]
            self.gpus = GpuInventory(held, "NVML")
        self.sent: ResourceSample | None = None

    def read(self) -> ResourceSample | None:
        measured = self.limiter.usage(self.cid)
        sample = ResourceSample(*measured) if measured else self.procfs.sample(self.pid)
        if sample is not None and self.gpus is not None:
            sample = replace(sample, gpu_memory_mib=self.gpus.memory_used_mib(self.cid))
        return sample

    async def changes(self) -> AsyncIterator[ResourceSample]:
        """A sample every ``USAGE_SAMPLE_S`` that differs from the last one sent."""
        while True:
            await asyncio.sleep(USAGE_SAMPLE_S)
            try:
                sample = await asyncio.to_thread(self.read)  # files under /sys or /proc
            except Exception:  # metering must never end the container's stream: try again
                sample = None
            if sample is not None and sample != self.sent:
                self.sent = sample
                yield sample


async def _follow(
    proc: asyncio.subprocess.Process,
    spec: LaunchSpec,
    limiter: limits.Limiter,
    meter: _Meter,
) -> AsyncIterator[Event]:
    """The process's output as it comes (what is waiting is sent together) and its usage, then
    its end."""
    queue: asyncio.Queue[tuple[str, str] | Usage | Ended] = asyncio.Queue()

    async def pump(name: str, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await stream.read(65536):
            if text := decoder.decode(chunk):
                queue.put_nowait((name, text))

    async def measure() -> None:
        async for sample in meter.changes():
            queue.put_nowait(Usage(sample))

    async def wait() -> None:
        pumps = asyncio.gather(pump("stdout", proc.stdout), pump("stderr", proc.stderr))
        returncode = await proc.wait()
        metering.cancel()  # before the group goes: a reading then would find nothing
        try:  # what is still in the pipes; a process that outlived the container and holds
            # them (forked elsewhere in this worker, say) must not hold the end back
            await asyncio.wait_for(pumps, PIPE_DRAIN_S)
        except asyncio.TimeoutError:
            pass
        info = describe_exit(isolation.payload_returncode(returncode))
        if limiter.oom_killed(spec.container_id):
            info = f"out of memory (limit {spec.memory_limit_mib} MiB)"
        limiter.release(spec.container_id)
        queue.put_nowait(Ended(info))

    loop = asyncio.get_running_loop()
    metering = loop.create_task(measure())
    waiter = loop.create_task(wait())
    try:
        while True:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            chunks = [i for i in items if isinstance(i, tuple)]
            if chunks:
                yield Output(chunks)
            usage = [i for i in items if isinstance(i, Usage)]
            if usage:
                yield usage[-1]
            ended = [i for i in items if isinstance(i, Ended)]
            if ended:
                yield ended[0]
                return
    finally:
        metering.cancel()
        waiter.cancel()


def node_version() -> str:
    """gworker's version here, with the digest of this module: a node must run the same code."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("gworker")
    except PackageNotFoundError:
        release = "unknown"
    return f"{release}+{_SELF_DIGEST}"


def node_image(launch: NodeLaunch, root: Path) -> BuiltImage:
    """The container's image on this node: the layers it lacks fetched from the control plane's
    blob store and unpacked into the node's layer store (kept: the next container finds them),
    never built here. A node that sees the blob store's directory (a shared filesystem, or the
    same machine) links the archives from it; any other fetches them over HTTP."""
    builder = ImageBuilder(root / "images", _never_fetch)
    blobs = Path(launch.blob_root)
    fetch = transfer.blob_dir_fetch(blobs) if blobs.is_dir() else _blob_fetcher(launch.spec.env)
    manifest = transfer.Manifest.from_json(launch.manifest)
    with open(root / "images" / "import.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one import per node: containers starting at once wait
        record = transfer.ensure_local(builder.store, manifest, fetch)
    return builder.from_record(record, launch.spec.image)


def _blob_fetcher(env: Mapping[str, str]) -> transfer.FetchBlob:
    """Blobs from the control plane over HTTP, with the container's own token."""
    url, token = env["GW_SERVER_URL"], f"{env['GW_TOKEN_ID']}:{env['GW_TOKEN_SECRET']}"

    def fetch(sha256: str, dest: Path) -> None:
        request = urllib.request.Request(
            f"{url}/v1/blobs/{sha256}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=BLOB_TIMEOUT_S) as answer:
                dest.write_bytes(msgpack.unpackb(answer.read()))
        except OSError as e:
            raise LaunchError(f"cannot fetch layer archive {sha256[:12]} from {url}: {e}") from e

    return fetch


def _never_fetch(sha256: str) -> bytes:
    raise LaunchError(f"blob {sha256[:12]} is not on this node")


def _grant(spec: LaunchSpec, node_type: str | None, ids: list[Any]) -> Grant | None:
    if not spec.gpu or not ids:
        return None
    indices = [int(i) for i in ids]
    return Grant(node_type or "unknown", indices)


_LIMITER: limits.Limiter | None = None
_GPU_SOURCE: str | None = None


def _node_gpu_source() -> str:
    """Where this node's GPUs are known from: "NVML" for real ones (their memory can be read);
    anything else for none or Ray's declared resources alone (as in tests). Probed once."""
    global _GPU_SOURCE
    if _GPU_SOURCE is None:
        _GPU_SOURCE = GpuInventory.from_nvml().source
    return _GPU_SOURCE


def _limiter() -> limits.Limiter:
    """One limiter per worker process (detection probes the cgroup hierarchy once)."""
    global _LIMITER
    if _LIMITER is None:
        _LIMITER = limits.detect()
    return _LIMITER


def _mounts(spec: LaunchSpec, root: Path) -> list[Mount]:
    """The spec's mounts with a directory of the container's own on this node where none is
    given (a volume's contents come from the control plane)."""
    out = []
    for n, m in enumerate(spec.mounts):
        if m.host_path is None:
            where = root / str(n)
            where.mkdir(parents=True)
            m = replace(m, host_path=str(where))
        out.append(m)
    return out
