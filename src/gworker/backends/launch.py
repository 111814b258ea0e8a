"""How the local backend turns a ``LaunchSpec`` into a process: the gworker runtime under the
image's Python, in the image's root filesystem (``images.overlay``) under bubblewrap, with the
container's limits applied, its volumes and GPU devices bound in.

The root is the image's layers under a private tmpfs upper, mounted in the child just before
bwrap is exec'd: nothing to clean up on the host, whatever way the container ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import constants as C
from .. import isolation
from ..images import BuiltImage, Rootfs
from . import nvidia
from .base import LaunchSpec, Mount
from .cgroups import Limits
from .gpus import Grant
from .limits import Limiter

_PR_SET_PDEATHSIG = 1
# where a container without a network finds the control plane's unix sockets
CONTROL_DIR = "/opt/gworker/control"
# where a container finds the app's code, as on Modal: the entry module (and the local packages
# shipped with it) in /root, the working directory, so `Path(__file__).parent` is /root too
CONTAINER_CODE_DIR = "/root"
_GPU_CONTROL_DEVICES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


class LaunchError(Exception):
    """The container cannot be started as specified on this machine."""


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str]
    preexec: Callable[[], None]

    async def spawn(self) -> asyncio.subprocess.Process:
        """The container's process, in a session of its own (its group is what a stop kills),
        stdout and stderr piped to the backend's log reader."""
        return await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=self.preexec,
        )


def dying_with_this_process() -> Callable[[], None]:
    """What a child of this process runs before exec so that it never outlives it (a container
    must not outlive a killed control plane): the kernel kills it when this process ends, and a
    child whose parent ended before that was asked (a fork racing a SIGKILL) ends at once."""
    parent = os.getpid()

    def die_with_parent() -> None:
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return die_with_parent


async def spawn_isolated(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    then: Callable[[], None] | None = None,
    stderr: int = asyncio.subprocess.PIPE,
    pass_fds: Sequence[int] = (),
) -> asyncio.subprocess.Process:
    """Start ``argv`` (an ``isolation.command``) in a session of its own, dying with the server,
    with the isolation's set-up in the child and then ``then`` (joining a cgroup); stdin and
    stdout are pipes."""

    die_with_parent = dying_with_this_process()

    def preexec() -> None:
        die_with_parent()
        isolation.preexec()
        if then is not None:
            then()

    return await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=preexec,
        pass_fds=pass_fds,
    )


def mounts_env(mounts: list[Mount], *, isolated: bool) -> str:
    """``GW_MOUNTS`` for the runtime: where the container finds each mount (``dir``): at its
    container path when isolated (bubblewrap binds the host directory there), else on the host.
    A read-only directory the runtime fills (a bucket's) is filled through ``fill_path``."""

    def where(n: int, m: Mount) -> str | None:
        if not isolated:
            return m.host_path
        return fill_path(n) if runtime_fills_read_only(m) else m.container_path

    return json.dumps(
        [
            {"path": m.container_path, "dir": where(n, m), "volume_id": m.volume_id}
            for n, m in enumerate(mounts)
        ]
    )


def runtime_fills_read_only(m: Mount) -> bool:
    """A read-only directory of the container's own (a read-only bucket mount): user code sees
    it read-only, the runtime writes what it downloads through a second, writable bind (root in a
    container writes past file modes, so only a read-only mount makes it read-only)."""
    return m.read_only and m.volume_id is None and m.nfs_id is None


def fill_path(n: int) -> str:
    return f"/opt/gworker/fill/{n}"


def gpu_env(grant: Grant | None) -> dict[str, str]:
    """A container sees exactly its own devices, or none."""
    env = {"CUDA_VISIBLE_DEVICES": grant.visible_devices if grant else ""}
    if grant:
        env["GW_GPU"] = grant.type
        env["GW_GPU_COUNT"] = str(len(grant.indices))
    return env


def device_binds(grant: Grant | None) -> dict[str, isolation.Mount]:
    if grant is None:
        return {}
    names = [f"nvidia{i}" for i in grant.indices] + list(_GPU_CONTROL_DEVICES)
    paths = [Path("/dev") / n for n in names]
    return {str(p): isolation.Mount(p, writable=True, device=True) for p in paths if p.exists()}


def _control_binds(
    control_sockets: Path | None, why: str = "block_network=True"
) -> dict[str, isolation.Mount]:
    """The control plane's socket directory, bound read-only at ``CONTROL_DIR``: the only way
    to it from a network namespace of the container's own (connecting to a socket needs no
    write access)."""
    if control_sockets is None:
        raise LaunchError(
            "block_network=True needs the control plane's unix sockets, which only containers"
            " on the control plane's machine reach: run the function on the local backend, or"
            " remove block_network"
        )
    if not (control_sockets / C.API_SOCKET).is_socket():
        raise LaunchError(
            f"{why}: the control plane's API socket {control_sockets / C.API_SOCKET}"
            " is missing; restart the control plane (`gw server stop`, `gw server start`)"
        )
    return {CONTROL_DIR: isolation.Mount(control_sockets)}


def plan(
    spec: LaunchSpec,
    image: BuiltImage,
    mounts: list[Mount],
    grant: Grant | None,
    limiter: Limiter,
    scratch: Path,
    control_sockets: Path | None = None,
    own_network: bool = False,
) -> Launch:
    """``scratch``: an existing directory the container's tmpfs upper is mounted over (in its
    own mount namespace). ``control_sockets``: the control plane's unix sockets
    (``constants.control_sockets``), on this machine only; a container without a network
    (``block_network``) reaches the control plane through them, and so does one with a network
    of its own (``own_network``: a web server's, which the caller then brings up,
    ``web_network``)."""
    reason = isolation.unavailable_reason()
    if reason is not None:
        raise LaunchError(f"containers cannot be started on this machine: {reason}")
    runtime = [image.python, "-m", "gworker_client._runtime", spec.container_id]
    net_env, net_mounts = isolation.host_network(isolation.network_env())
    if spec.block_network:
        net_env, net_mounts = {}, _control_binds(control_sockets)
    elif own_network:
        why = "a container serving on its own port (@web_server, @app.server)"
        net_mounts = {**net_mounts, **_control_binds(control_sockets, why)}
    env = {**net_env, **image.environ(), **spec.env, **gpu_env(grant)}
    if spec.block_network or own_network:
        env["GW_SERVER_SOCKET"] = f"{CONTROL_DIR}/{C.API_SOCKET}"
        env["GW_CHANNEL_SOCKET"] = f"{CONTROL_DIR}/{C.CHANNEL_SOCKET}"
    if own_network and not spec.block_network:
        # its servers' ports: the runtime waits for the network before user code runs, and
        # relays the control plane's URL to its socket unless that port is one of these
        env["GW_OWN_NETWORK"] = ",".join(str(p) for p in spec.web_ports)
    # the cpu reservation is the container's weight, never below an ordinary process's: a
    # lighter one would leave containers waiting behind the control plane on a busy machine
    share = max(spec.cpu, 1.0)
    limits = Limits(
        cpu=spec.cpu_limit,
        memory_mib=spec.memory_limit_mib,
        cpu_share=share,
        pids=C.CONTAINER_MAX_TASKS,
    )
    binds = {**net_mounts, **device_binds(grant), **nvidia.driver_binds(grant)}
    for n, m in enumerate(mounts):
        assert m.host_path is not None
        binds[m.container_path] = isolation.Mount(Path(m.host_path), writable=not m.read_only)
        if runtime_fills_read_only(m):
            binds[fill_path(n)] = isolation.Mount(Path(m.host_path), writable=True)
    env["GW_CODE_DIR"] = CONTAINER_CODE_DIR
    env["GW_MOUNTS"] = mounts_env(mounts, isolated=True)
    rootfs = Rootfs(image.layers_dir, image.layers, scratch, size_mib=spec.ephemeral_disk_mib)
    # a sized writable layer holds /tmp too: the size bounds everything the container writes
    private_tmp = spec.ephemeral_disk_mib is None
    argv = isolation.command(
        image, runtime, root=rootfs.merged, mounts=binds, private_tmp=private_tmp
    )
    join_cgroup = limiter.prepare(spec.container_id, limits)
    die_with_parent = dying_with_this_process()

    def preexec() -> None:
        die_with_parent()
        isolation.preexec()
        if spec.block_network or own_network:
            isolation.own_network_in_child()
        rootfs.mount_in_child()
        join_cgroup()

    return Launch(argv, env, preexec)
