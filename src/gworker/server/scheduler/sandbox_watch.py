"""What watches a running sandbox besides the relay of its frames: its ``idle_timeout`` and its
readiness probe.

Idle means, as in Modal: no ``exec``'d command running and none started, no stdin written, no
file operation and no connection through its tunnels for ``idle_timeout`` seconds; the main
command's own work does not count. A readiness probe (``Probe.with_tcp(port)`` /
``Probe.with_exec(*argv)``) is tried by the sandbox's agent, inside its namespaces, every
``interval_ms`` until it passes; ``wait_until_ready`` long-polls ``ready``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gworker_client._protocol.sandbox import SandboxProbe

Ask = Callable[[dict[str, Any], float], Awaitable[tuple[int, bytes]]]
# One exec probe may run this long before it counts as failed (and is killed).
EXEC_PROBE_TIMEOUT_S = 10.0


class SandboxWatch:
    def __init__(
        self,
        *,
        idle_timeout: int | None,
        busy: Callable[[], bool],
        end_idle: Callable[[], None],
        probe: SandboxProbe | None,
        ask: Ask,
        env: dict[str, str],
        workdir: str | None,
    ) -> None:
        self.idle_timeout = idle_timeout
        self._busy = busy
        self._end_idle = end_idle
        self._probe = probe
        self._ask = ask
        self._env = env
        self._workdir = workdir
        self._last = time.monotonic()
        self.ready = asyncio.Event()
        self.has_probe = probe is not None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.idle_timeout:
            self._tasks.append(loop.create_task(self._watch_idle(self.idle_timeout)))
        if self._probe is not None:
            self._tasks.append(loop.create_task(self._run_probe(self._probe)))
        else:
            self.ready.set()

    def touch(self) -> None:
        """Something used the sandbox: its idle time starts again."""
        self._last = time.monotonic()

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _watch_idle(self, idle: int) -> None:
        while True:
            await asyncio.sleep(max(0.05, self._last + idle - time.monotonic()))
            if self._busy():
                self.touch()  # a command still running: the sandbox is in use
            elif time.monotonic() - self._last >= idle:
                self._end_idle()
                return

    async def _run_probe(self, probe: SandboxProbe) -> None:
        if probe.tcp_port is not None:
            req: dict[str, Any] = {"op": "connect", "port": probe.tcp_port}
        else:
            req = {"op": "run", "argv": probe.exec_argv, "env": self._env}
            req |= {"cwd": self._workdir, "timeout": EXEC_PROBE_TIMEOUT_S}
        while True:
            with contextlib.suppress(Exception):  # a failed try is simply not ready yet
                status, data = await self._ask(req, EXEC_PROBE_TIMEOUT_S + 5)
                if status == 0 and (probe.tcp_port is not None or data == bytes(4)):
                    self.ready.set()
                    return
            await asyncio.sleep(probe.interval_ms / 1000)
