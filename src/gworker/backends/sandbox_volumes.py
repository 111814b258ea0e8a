"""A sandbox's volumes: directories filled before it starts and committed after it ends, by a
volume keeper (``gworker_client/_runtime/volume_keeper.py``) running beside the sandbox.

The keeper is a container of its own: the sandbox's image, the same host directories bound at
the same mount paths, the host's network (it talks to the control plane with a token of its
own) and no path the sandbox can reach: separate pid namespace, no shared socket, and the token
is in the keeper's environment only. The sandbox sees each volume as a writable directory at its
mount path and nothing of the keeper. As for a function, what it writes there is committed when
it ends (finished, terminated, timed out or out of memory), and other containers see it after
their next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path

from gworker_client._protocol import VolumeMount

from .. import isolation
from ..images import BuiltImage, Rootfs
from .base import Mount
from .launch import LaunchError, mounts_env, spawn_isolated

KEEPER = "gworker_client._runtime.volume_keeper"
FILL_TIMEOUT_S = 600.0
COMMIT_TIMEOUT_S = 600.0


class VolumeKeeper:
    def __init__(self, proc: asyncio.subprocess.Process, root: Path) -> None:
        self._proc = proc
        self._root = root

    @classmethod
    async def start(
        cls,
        image: BuiltImage,
        volumes: Sequence[VolumeMount],
        env: dict[str, str],
        root: Path,
        scratch: Path,
    ) -> tuple[VolumeKeeper, dict[str, isolation.Mount]]:
        """Fill the volumes; returns the keeper and the binds the sandbox gets. The keeper runs
        in the sandbox's image, as nobody (who owns the volumes' directories), with the
        network to reach the control plane; ``scratch`` is where its root is assembled."""
        mounts = []
        for n, v in enumerate(volumes):
            where = root / str(n)
            where.mkdir(parents=True)
            isolation.hand_over(where)
            mounts.append(Mount(v.mount_path, str(where), volume_id=v.volume_id))
        binds = {
            m.container_path: isolation.Mount(Path(str(m.host_path)), writable=True) for m in mounts
        }
        described = [
            {"mount_path": v.mount_path, "volume_id": v.volume_id, "name": v.name} for v in volumes
        ]
        full_env = {
            **isolation.network_env(),
            **image.environ(),
            **env,
            "GW_MOUNTS": mounts_env(mounts, isolated=True),
            "GW_SANDBOX_VOLUMES": json.dumps(described),
        }
        rootfs = Rootfs(image.layers_dir, image.layers, scratch)
        argv = isolation.command(
            image,
            [image.python, "-m", KEEPER],
            root=rootfs.merged,
            mounts=binds,
            identity=isolation.Identity.SANDBOX,
        )
        proc = await spawn_isolated(argv, full_env, then=rootfs.mount_in_child)
        keeper = cls(proc, root)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), FILL_TIMEOUT_S)
        except asyncio.TimeoutError:
            line = b"error: filling the volumes took too long"
        if line.strip() != b"ready":
            problem = line.decode(errors="replace").strip() or await keeper._stderr()
            await keeper.discard()
            raise LaunchError(f"the sandbox's volumes could not be filled: {problem}")
        return keeper, binds

    async def _stderr(self) -> str:
        assert self._proc.stderr is not None
        with contextlib.suppress(asyncio.TimeoutError):
            err = await asyncio.wait_for(self._proc.stderr.read(), 5)
            return err.decode(errors="replace").strip()[-2000:]
        return "(no output)"

    async def finish(self) -> str | None:
        """The sandbox ended: commit its volumes. Returns None, or what went wrong."""
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        with contextlib.suppress(ConnectionError):
            stdin.close()
        try:
            line = await asyncio.wait_for(stdout.readline(), COMMIT_TIMEOUT_S)
        except asyncio.TimeoutError:
            line = b"error: committing the volumes took too long"
        problem = None
        if line.strip() != b"committed":
            problem = line.decode(errors="replace").strip() or await self._stderr()
        await self.discard()
        return problem

    async def discard(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        await self._proc.wait()
        await asyncio.to_thread(shutil.rmtree, self._root, True)
