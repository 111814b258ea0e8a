"""What the control plane holds of each sandbox: its record (``Sandbox``), its processes
(``Proc``) and their output streams (``Stream``), kept in memory and long-polled by readers.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from gworker_client._protocol.sandbox import (
    EXIT_CODE,
    FRAME_EXIT,
    FRAME_FS_REPLY,
    FRAME_STDERR,
    FRAME_STDOUT,
)

from ...backends.sandbox import SandboxProcess
from ..draining import DRAINING
from .sandbox_watch import SandboxWatch

READ_CHUNK = 1024 * 1024
KEEP_BYTES = 16 * 1024 * 1024  # per stream


class Stream:
    """One output stream of one process: bytes appended, read from any offset, long-polled.

    Only the last ``KEEP_BYTES`` are kept: a process that writes without end cannot fill the
    server's memory; a reader that fell that far behind resumes at the oldest byte kept."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.start = 0  # the offset of data[0]: bytes before it were dropped
        self.closed = False
        self._changed = asyncio.Event()

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def append(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - KEEP_BYTES
        if excess > 0:
            del self.data[:excess]
            self.start += excess
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def read(self, offset: int, timeout: float) -> tuple[bytes, int, bool]:
        """Bytes from ``offset`` (waiting up to ``timeout`` for some), the offset they start
        at (later than asked if older bytes were dropped), and whether the stream ends there."""
        if offset >= self.end and not self.closed and timeout > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await DRAINING.wait_for(self._changed.wait(), timeout)
        at = max(offset, self.start)
        chunk = bytes(self.data[at - self.start : at - self.start + READ_CHUNK])
        return chunk, at, self.closed and at + len(chunk) >= self.end


@dataclass
class Proc:
    stdout: Stream = field(default_factory=Stream)
    stderr: Stream = field(default_factory=Stream)
    returncode: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def finish(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self.stdout.close()
        self.stderr.close()
        self.done.set()


@dataclass
class Sandbox:
    id: str
    app_id: str
    name: str | None
    image: str
    created_at: float
    process: SandboxProcess | None = None
    procs: dict[int, Proc] = field(default_factory=dict)
    next_pid: int = 1
    state: str = "running"
    returncode: int | None = None
    info: str = ""
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    ending: str | None = None  # why the server ends it: timeout | terminated | app stopped
    env: dict[str, str] = field(default_factory=dict)  # every command's (its secrets, env=)
    workdir: str | None = None
    deadline: asyncio.TimerHandle | None = None  # its timeout
    # file operations and probes sent to its agent, by number, awaiting the reply
    requests: dict[int, asyncio.Future[tuple[int, bytes]]] = field(default_factory=dict)
    next_request: int = 1
    watch: SandboxWatch | None = None  # its idle timeout and readiness probe
    keeper_token: str | None = None  # its volume keeper's, while it runs

    async def pump(self) -> tuple[int, bool]:
        """Put its agent's frames into the process streams and request replies until the agent
        ends; then its exit code and whether memory ran out."""
        process = self.process
        assert process is not None
        while (frame := await process.receive()) is not None:
            kind, pid, payload = frame
            if kind == FRAME_FS_REPLY:
                waiter = self.requests.pop(pid, None)
                if waiter is not None and not waiter.done() and payload:
                    waiter.set_result((payload[0], payload[1:]))
                continue
            proc = self.procs.get(pid)
            if proc is None:
                continue
            if kind == FRAME_STDOUT:
                proc.stdout.append(payload)
            elif kind == FRAME_STDERR:
                proc.stderr.append(payload)
            elif kind == FRAME_EXIT and len(payload) == EXIT_CODE.size:
                proc.finish(EXIT_CODE.unpack(payload)[0])
                if self.watch:
                    self.watch.touch()
        return await process.wait()

    def describe(self) -> dict[str, Any]:
        return {
            "sandbox_id": self.id,
            "app_id": self.app_id,
            "name": self.name,
            "state": self.state,
            "returncode": self.returncode,
            "info": self.info,
            "created_at": self.created_at,
            "image": self.image,
        }
