"""Starting a sandbox on this machine: its agent under bubblewrap, in a network namespace of its
own, joined to a cgroup with cpu, memory and process-count limits.

A sandbox always gets a network namespace of its own (``isolation.own_network_in_child``). With
``block_network`` that is all: only its own loopback. Otherwise ``slirp4netns`` gives the
namespace a user-mode TCP/IP stack (a tap device, 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3)
for outbound traffic, with
``--disable-host-loopback`` so that neither 10.0.2.2 nor anything else reaches the host's
127.0.0.1, where the control plane listens. The agent learns nothing about the control plane: its
only channel is the pair of pipes this module hands to the caller (``SandboxProcess``).

Sandboxes are never run without isolation: a machine without bubblewrap refuses them with the
reason (functions fall back to plain processes; code nobody trusts must not).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gworker_client._protocol import GpuRequest, VolumeMount
from gworker_client._protocol.sandbox import FRAME_HEADER, FRAME_READY

from .. import isolation
from ..images import BuiltImage, Rootfs
from . import sandbox_firewall
from .cgroups import Limits
from .gpus import Grant
from .launch import LaunchError, device_binds, dying_with_this_process, gpu_env, spawn_isolated
from .limits import Limiter
from .sandbox_ports import ForwardError, add_forward
from .sandbox_volumes import VolumeKeeper

AGENT = Path("gworker_client") / "_runtime" / "sandbox_agent.py"
# Processes and threads a sandbox may hold at once: a fork bomb stops here.
SANDBOX_PIDS = 512
# A sandbox with no ``memory`` still has a ceiling, so one cannot take the machine's memory.
DEFAULT_MEMORY_MIB = 2048
_NET_READY_S = 10.0
# CPU weights: an ordinary process's while a sandbox is used (a lighter one would queue behind
# the server), a tenth of that while it waits in the warm pool.
ACTIVE_SHARE = 1.0
WARMING_SHARE = 0.1
# The agent sends output in chunks of at most 64 KiB; anything far larger is refused.
MAX_FRAME = 1024 * 1024
SLIRP_INSTALL = (
    "slirp4netns is not installed; sandboxes need it for outbound network: install it with"
    " `apt-get install slirp4netns` (or `./scripts/install-system-deps slirp4netns`),"
    " or create the sandbox with block_network=True"
)


class IsolationFailed(LaunchError):
    """bubblewrap exited before the agent ran (it happens now and then on a busy machine:
    setting up a namespace fails); starting again usually works."""


class SandboxGone(Exception):
    """The sandbox ended while a command was being sent to it."""


@dataclass(frozen=True)
class SandboxLaunch:
    """What the backend needs to start one sandbox. Its environment is not here: the control
    plane sends it with each command, so a sandbox started ahead of time (``WarmPool``) serves
    any caller with the same launch."""

    image: dict[str, object]
    workdir: str | None = None
    cpu: float | None = None
    memory_mib: int | None = None
    block_network: bool = False
    volumes: tuple[VolumeMount, ...] = ()  # filled and committed by a VolumeKeeper
    keeper_env: tuple[tuple[str, str], ...] = ()  # the keeper's server address and token
    cidr_allowlist: tuple[str, ...] | None = None  # where it may connect (None: anywhere)
    gpu: tuple[GpuRequest, ...] = ()  # alternatives, from the same inventory as functions

    @property
    def poolable(self) -> bool:
        """Whether a sandbox started ahead of time can serve it (volumes are per sandbox)."""
        return not self.volumes and not self.gpu

    def key(self) -> str:
        return json.dumps(
            [
                self.image,
                self.workdir,
                self.cpu,
                self.memory_mib,
                self.block_network,
                self.cidr_allowlist,
            ],
            sort_keys=True,
        )


@dataclass(frozen=True)
class SandboxRoot:
    """Where a running sandbox's root filesystem is, for a snapshot of it: ``image``'s layers
    under the tmpfs upper its first process mounted over ``scratch`` in its own mount namespace,
    with ``mounted`` (container paths: volumes, devices) bound over it."""

    image: BuiltImage
    scratch: Path
    mounted: tuple[str, ...]


class SandboxProcess:
    """A running sandbox as the control plane holds it: frames to and from its agent."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        net: SlirpNetwork | None,
        limiter: Limiter,
        sandbox_id: str,
        keeper: VolumeKeeper | None = None,
        on_exit: Callable[[], None] | None = None,
        root: SandboxRoot | None = None,
    ) -> None:
        self.root = root
        self.proc = proc
        self._net = net
        self._limiter = limiter
        self._id = sandbox_id
        self._keeper = keeper
        self._on_exit = on_exit  # gives back its GPUs
        self.volume_problem: str | None = None  # why committing its volumes failed
        self._write_lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def send(self, kind: int, process: int, payload: bytes = b"") -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        async with self._write_lock:
            try:
                stdin.write(FRAME_HEADER.pack(kind, process, len(payload)) + payload)
                await stdin.drain()
            except (ConnectionError, RuntimeError) as e:  # its agent is gone: it is ending
                raise SandboxGone(f"the sandbox's agent has exited ({e})") from None

    async def receive(self) -> tuple[int, int, bytes] | None:
        """The agent's next frame, or None once it has exited."""
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            head = await stdout.readexactly(FRAME_HEADER.size)
            kind, process, length = FRAME_HEADER.unpack(head)
            if length > MAX_FRAME:  # not our agent's doing: code inside forged it
                self.kill()
                return None
            return kind, process, await stdout.readexactly(length) if length else b""
        except asyncio.IncompleteReadError:
            return None

    def upper(self) -> Path | None:
        """Its writable layer, as the host reaches it: bubblewrap's outer process stays in the
        mount namespace where the overlay and its tmpfs upper were mounted (``Rootfs``), and
        ``/proc/<pid>/root`` resolves paths in that namespace. None once it has exited."""
        if self.root is None or self.proc.returncode is not None:
            return None
        return Path(f"/proc/{self.proc.pid}/root") / self.root.scratch.relative_to("/") / "upper"

    @property
    def alive(self) -> bool:
        stdin = self.proc.stdin
        return self.proc.returncode is None and stdin is not None and not stdin.is_closing()

    async def forward(self, guest_port: int, host_addr: str) -> int:
        """Make the sandbox's ``guest_port`` reachable at ``host_addr:<port>``; returns the
        port."""
        if self._net is None:
            raise ForwardError("the sandbox has no network (block_network=True)")
        return await self._net.forward(guest_port, host_addr)

    def activate(self) -> None:
        """It is in use now: the ordinary CPU weight."""
        self._limiter.set_cpu_share(self._id, ACTIVE_SHARE)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def wait(self) -> tuple[int, bool]:
        """Wait for the sandbox's end; release its cgroup and network. Returns the agent's exit
        code and whether the kernel killed something in it for exceeding its memory."""
        code = isolation.payload_returncode(await self.proc.wait())
        oom = self._limiter.oom_killed(self._id)
        self._limiter.release(self._id)  # kills whatever is left in its group
        if self._on_exit is not None:  # nothing of it runs any more: its devices are free
            self._on_exit()
        if self._net is not None:
            await self._net.close()
        if self._keeper is not None:  # its processes are gone: what they wrote is final
            self.volume_problem = await self._keeper.finish()
        return code, oom


def agent_path() -> str:
    """The agent inside the sandbox: in the gworker runtime, bound read-only into the image."""
    return f"{isolation.RUNTIME_DIR}/{AGENT}"


async def start_sandbox(
    spec: SandboxLaunch,
    image: BuiltImage,
    limiter: Limiter,
    scratch: Path,
    *,
    warm: bool = False,
    mounts_root: Path | None = None,
    grant: Grant | None = None,
    on_exit: Callable[[], None] | None = None,
) -> SandboxProcess:
    """Start the sandbox's agent and, unless it is cut off, its network; return once commands
    sent to it will find the network up. A ``warm`` one (started ahead of demand) starts with a
    small CPU weight, so that filling the pool never slows running sandboxes; ``activate``
    gives it the ordinary weight when it is taken."""
    reason = isolation.unavailable_reason()
    if reason:
        raise LaunchError(f"sandboxes need bubblewrap isolation: {reason}")
    slirp = shutil.which("slirp4netns")
    if not spec.block_network and slirp is None:
        raise LaunchError(SLIRP_INSTALL)
    argv = [image.python, "-I", "-S", agent_path()]
    # the image's root under a private tmpfs upper (images.overlay), as nobody
    rootfs = Rootfs(image.layers_dir, image.layers, scratch)
    group = "sbx-" + uuid.uuid4().hex[:20]  # its cgroup: sandboxes may start before they are named
    keeper: VolumeKeeper | None = None
    binds: dict[str, isolation.Mount] = {}
    if spec.volumes:
        assert mounts_root is not None
        keeper_env = dict(spec.keeper_env)
        keeper, binds = await VolumeKeeper.start(
            image, spec.volumes, keeper_env, mounts_root / group, scratch
        )
    binds.update(device_binds(grant))
    info_r, info_w = os.pipe()
    try:
        command = isolation.command(
            image,
            argv,
            root=rootfs.merged,
            mounts=binds,
            network=True,  # its own namespace comes from the pre-exec hook (own_network_in_child)
            cwd=spec.workdir,
            identity=isolation.Identity.SANDBOX,
            bwrap_args=["--info-fd", str(info_w)],
        )
    except BaseException:
        os.close(info_r)
        os.close(info_w)
        if keeper:
            await keeper.discard()
        raise
    env = {**isolation.network_env(), **image.environ(), **(gpu_env(grant) if grant else {})}
    memory = spec.memory_mib or DEFAULT_MEMORY_MIB
    share = WARMING_SHARE if warm else ACTIVE_SHARE
    limits = Limits(cpu=spec.cpu, memory_mib=memory, cpu_share=share, pids=SANDBOX_PIDS)
    join_cgroup = limiter.prepare(group, limits)

    def then() -> None:
        rootfs.mount_in_child()
        isolation.own_network_in_child()
        join_cgroup()

    try:
        proc = await spawn_isolated(
            command,
            env,
            then=then,
            stderr=asyncio.subprocess.DEVNULL,
            pass_fds=(info_w,),
        )
    except BaseException:
        limiter.release(group)
        if keeper:
            await keeper.discard()
        raise
    finally:
        os.close(info_w)
    net = None
    try:
        child = await asyncio.to_thread(_child_pid, info_r)
        if spec.cidr_allowlist is not None and child is not None:
            await sandbox_firewall.apply(child, spec.cidr_allowlist)
        if not spec.block_network and child is not None:
            assert slirp is not None
            net = await SlirpNetwork.start(slirp, child)
        await _agent_ready(proc)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        limiter.release(group)
        if keeper:
            await keeper.discard()
        if net is not None:
            await net.close()
        raise
    root = SandboxRoot(image, scratch, tuple(sorted(binds)))
    return SandboxProcess(proc, net, limiter, group, keeper, on_exit, root)


async def _agent_ready(proc: asyncio.subprocess.Process) -> None:
    """Wait for the agent's first frame: bubblewrap can fail after it reported the sandbox's
    pid (setting up the namespace's loopback, say), and a command sent then would be lost."""
    assert proc.stdout is not None
    try:
        head = await asyncio.wait_for(proc.stdout.readexactly(FRAME_HEADER.size), _NET_READY_S)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError):
        head = b""
    if not head or FRAME_HEADER.unpack(head) != (FRAME_READY, 0, 0):
        code = proc.returncode
        raise IsolationFailed(
            "the sandbox's isolation failed to start"
            + (f" (bubblewrap exited with {code})" if code is not None else "")
        )


def _child_pid(fd: int) -> int | None:
    """bubblewrap's ``--info-fd`` report: the host pid of the sandbox's first process (None if
    bubblewrap failed before creating it; its exit then says why)."""
    with os.fdopen(fd, "rb") as f:
        raw = f.read()
    try:
        return int(json.loads(raw)["child-pid"])
    except (ValueError, KeyError):
        return None


class SlirpNetwork:
    """slirp4netns for one network namespace: outbound traffic, never the host's loopback, and
    port forwards added through its API socket (sandboxes, and function containers that serve
    on a port: ``web_network``)."""

    def __init__(self, proc: asyncio.subprocess.Process, api_socket: str) -> None:
        self.proc = proc
        self.api_socket = api_socket

    @classmethod
    async def start(cls, slirp: str, child: int, who: str = "the sandbox") -> SlirpNetwork:
        """The network of process ``child``'s namespace, once configured; a LaunchError (with
        nothing left behind) if it cannot be."""
        # a directory only root (or the server's user) can enter: the socket forwards ports
        api_socket = os.path.join(tempfile.mkdtemp(prefix="gw-slirp-"), "api.sock")
        try:
            return cls(await _start_slirp(slirp, child, api_socket, who), api_socket)
        except BaseException:
            shutil.rmtree(os.path.dirname(api_socket), ignore_errors=True)
            raise

    async def forward(self, guest_port: int, host_addr: str) -> int:
        """Make the namespace's ``guest_port`` reachable at ``host_addr:<port>``; returns the
        port."""
        return await add_forward(self.api_socket, guest_port, host_addr)

    async def close(self) -> None:
        """End slirp4netns (its namespace's processes are gone, or never started) and its
        socket."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        shutil.rmtree(os.path.dirname(self.api_socket), ignore_errors=True)


async def _start_slirp(
    slirp: str, child: int, api_socket: str, who: str
) -> asyncio.subprocess.Process:
    ready_r, ready_w = os.pipe()
    argv = [slirp, "--configure", "--mtu=65520", "--disable-host-loopback"]
    argv.append(f"--api-socket={api_socket}")
    argv += [f"--ready-fd={ready_w}", "--enable-seccomp"]
    argv += [str(child), "tap0"]
    try:
        net = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(ready_w,),
            preexec_fn=dying_with_this_process(),
        )
    finally:
        os.close(ready_w)
    ready = await asyncio.wait_for(asyncio.to_thread(_read_all, ready_r), _NET_READY_S)
    if ready != b"1":
        assert net.stderr is not None
        with contextlib.suppress(ProcessLookupError):
            net.kill()
        err = (await net.stderr.read()).decode(errors="replace").strip()
        raise LaunchError(f"{who}'s network could not be set up (slirp4netns): {err}")
    return net


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as f:
        return f.read(1)
