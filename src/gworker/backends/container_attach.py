"""Commands in a running function container (``gw container exec ct-...``): a sandbox agent
started inside the container's namespaces, so that the sandbox machinery (stdio relayed live,
exit codes, pseudo-terminals, file access) serves containers too.

``nsenter`` joins the namespaces of the container's first process (bubblewrap's child: its
filesystem view, process tree, network, IPC and hostname), the agent joins the container's
cgroup (its limits hold for what is run), and it runs with the container's user and
capabilities. It gets the
image's environment, never the container's token. It ends with the container: the kernel kills
everything in a pid namespace whose first process exits.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from .. import isolation
from ..images import BuiltImage
from .cgroups import Limits
from .launch import LaunchError, dying_with_this_process
from .limits import Limiter
from .sandbox import SandboxProcess, _agent_ready, agent_path


def namespace_pid(outer: int) -> int | None:
    """The first process inside the container (bubblewrap's child), from bubblewrap's pid."""
    try:
        children = Path(f"/proc/{outer}/task/{outer}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


async def attach_agent(
    container_id: str, outer_pid: int, image: BuiltImage, limiter: Limiter
) -> SandboxProcess:
    """An agent inside the container whose bubblewrap has ``outer_pid``."""
    if isolation.unavailable_reason() is not None:
        raise LaunchError("commands in a container need its isolation (bubblewrap): not here")
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise LaunchError("nsenter (util-linux) is not installed; `gw container exec` needs it")
    inner = namespace_pid(outer_pid)
    if inner is None:
        raise LaunchError("the container is not running any more")
    argv = [nsenter, f"--target={inner}", "--mount", "--pid", "--net", "--ipc", "--uts"]
    argv += ["--wd=/", "--"]
    # the container's user and capabilities, as its payload has them
    argv += isolation.enter_prefix(isolation.Identity.CONTAINER)
    argv += [image.python, "-I", "-S", agent_path()]
    join_cgroup = limiter.prepare(container_id, Limits())  # no limits changed: joined
    die_with_parent = dying_with_this_process()

    def preexec() -> None:
        die_with_parent()
        join_cgroup()

    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**isolation.network_env(), **image.environ()},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=preexec,
    )
    try:
        await _agent_ready(proc)
    except LaunchError:
        raise LaunchError(
            "its agent could not start in the container (did it just stop?)"
        ) from None
    # a group id the limiter does not know: ending the agent must not end the container
    return SandboxProcess(proc, None, limiter, f"attach-{proc.pid}")
