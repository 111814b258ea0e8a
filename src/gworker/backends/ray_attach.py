"""Commands in a container on a Ray node (``gw container exec``, ``gw shell ct-...``).

The container's actor starts the same agent inside it that the local backend starts
(``container_attach.py``) and relays its frames: the agent's frames come back as one Ray
generator (``ContainerActor.agent_frames``), and each frame for it is one actor call
(``agent_send``), awaited in order. ``RemoteAgent`` is what the control plane's sandbox
machinery drives, as it drives a ``SandboxProcess`` on this machine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .ray_node import AgentEnded
from .sandbox import SandboxGone, SandboxProcess
from .sandbox_ports import ForwardError

log = logging.getLogger("gworker.backends.ray_attach")


class RemoteAgent(SandboxProcess):
    """An agent inside a container on a Ray node, driven through the container's actor. It has
    no process on this machine, so none of ``SandboxProcess``'s local state is made."""

    def __init__(self, handle: Any) -> None:  # no super().__init__: its state is local
        self._handle = handle
        self._frames = handle.agent_frames.remote()
        self._ended: tuple[int, bool] | None = None
        self._write_lock = asyncio.Lock()
        self.volume_problem = None
        self.root = None  # no filesystem here: ``upper`` is None, so it is never snapshotted

    @property
    def pid(self) -> int:
        return 0  # on another machine

    async def send(self, kind: int, process: int, payload: bytes = b"") -> None:
        async with self._write_lock:  # frames reach the agent in the order they were sent
            try:
                await self._handle.agent_send.remote(kind, process, payload)
            except Exception as e:  # the agent, its container or the actor is gone
                raise SandboxGone(f"the container's agent has exited ({e})") from None

    async def receive(self) -> tuple[int, int, bytes] | None:
        if self._ended is not None:
            return None
        try:
            item = await (await self._frames.__anext__())
        except StopAsyncIteration:
            item = AgentEnded(1, False)
        except Exception as e:  # the actor (and its container) died
            log.info("the agent's frames ended: %r", e)
            item = AgentEnded(1, False)
        if isinstance(item, AgentEnded):
            self._ended = (item.code, item.oom)
            return None
        kind, process, payload = item
        return int(kind), int(process), bytes(payload)

    @property
    def alive(self) -> bool:
        return self._ended is None

    async def forward(self, guest_port: int, host_addr: str) -> int:
        raise ForwardError("a function container's ports are not forwarded")

    def activate(self) -> None:
        """Its weight is its container's."""

    def kill(self) -> None:
        try:
            self._handle.agent_kill.remote()
        except Exception:  # the actor is gone, and the agent with it
            pass

    async def wait(self) -> tuple[int, bool]:
        while self._ended is None:
            await self.receive()
        return self._ended
