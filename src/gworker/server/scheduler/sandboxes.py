"""Sandboxes held by the control plane: containers not tied to any function, each running one
main command plus whatever ``exec`` adds, relayed through its agent (``backends/sandbox.py``).

Every process's stdout and stderr are kept in memory as byte streams; a reader long-polls from
an offset (``read``), so the SDK sees output live and a retried read never loses or repeats
bytes. A sandbox ends when its main command exits, at its ``timeout`` (exit code 124), at
``terminate`` (137), or with the server: the store then says so (``recover``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gworker_client._protocol.sandbox import (
    EXIT_CODE,
    EXIT_TERMINATED,
    EXIT_TIMEOUT,
    FRAME_EXEC,
    FRAME_EXIT,
    FRAME_STDERR,
    FRAME_STDIN,
    FRAME_STDIN_EOF,
    FRAME_STDOUT,
    MAIN_PROCESS,
    CreateSandbox,
    ExecCommand,
)

from ...backends.sandbox import SandboxGone, SandboxLaunch, SandboxProcess
from ...store import Store
from ..draining import DRAINING
from ..errors import Conflict, InvalidRequest, NotFound

log = logging.getLogger("gworker.sandboxes")
READ_CHUNK = 1024 * 1024
KEEP_BYTES = 16 * 1024 * 1024  # per stream
# Ended sandboxes kept in memory (their output stays readable); older ones keep only their row.
KEEP_ENDED = 200
RESTART_INFO = "ended: the control plane restarted (sandboxes do not survive a restart)"


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


StartSandbox = Callable[[SandboxLaunch], Any]  # async: the backend's start_sandbox
SecretEnv = Callable[[CreateSandbox], dict[str, str]]


class Sandboxes:
    def __init__(self, store: Store, start: StartSandbox, secret_env: SecretEnv) -> None:
        self.store = store
        self._start = start
        self._secret_env = secret_env
        self._live: dict[str, Sandbox] = {}  # running and recently ended, by id
        self._ended: list[str] = []

    def recover(self) -> None:
        """Close what a previous server left running: its processes died with it."""
        if self.store.end_orphaned_sandboxes(RESTART_INFO, EXIT_TERMINATED):
            self.store.commit()

    # -- create, find ----------------------------------------------------------------------------

    async def create(self, req: CreateSandbox) -> Sandbox:
        if req.sandbox_id in self._live or self.store.sandbox(req.sandbox_id):
            return self.get(req.sandbox_id)  # a retried create
        if self.store.app(req.app_id) is None:
            raise NotFound(f"app {req.app_id!r} does not exist: use App.lookup(name, ...)")
        if req.name and self.store.sandbox_by_name(req.app_id, req.name):
            raise Conflict(
                f"a sandbox named {req.name!r} is already running in this app: use"
                f" Sandbox.from_name(app_name, {req.name!r}), or terminate it first"
            )
        env = {**self._secret_env(req), **req.env}
        launch = SandboxLaunch(
            req.image,
            workdir=req.workdir,
            cpu=req.cpu,
            memory_mib=req.memory_mib,
            block_network=req.block_network,
        )
        image = str(req.image.get("digest") or req.image.get("base") or "image")[:32]
        sb = Sandbox(req.sandbox_id, req.app_id, req.name, image, time.time())
        sb.env, sb.workdir = env, req.workdir
        self.store.add_sandbox(sb.id, sb.app_id, sb.name, sb.image)
        self.store.commit()
        self._live[sb.id] = sb
        main = sb.procs[MAIN_PROCESS] = Proc()
        try:
            await self._launch(sb, launch, list(req.args))
        except Exception as e:
            self._end(sb, "failed", 1, f"could not start: {e}")
            raise InvalidRequest(f"the sandbox could not start: {e}") from None
        if not req.args:
            main.stdout.close()
            main.stderr.close()
        loop = asyncio.get_running_loop()
        loop.create_task(self._relay(sb))
        sb.deadline = loop.call_later(req.timeout, self._expire, sb)
        return sb

    async def _launch(self, sb: Sandbox, launch: SandboxLaunch, args: list[str]) -> None:
        """Start it and its main command; a warm sandbox that died idle is replaced once."""
        for attempt in (1, 2):
            sb.process = await self._start(launch)
            if not args:
                return
            try:
                await self._exec(sb, MAIN_PROCESS, args, None, {}, None)
                return
            except InvalidRequest:
                sb.process.kill()
                await sb.process.wait()  # releases its cgroup and network
                if attempt == 2:
                    raise

    def get(self, sid: str) -> Sandbox:
        sb = self._live.get(sid)
        if sb is not None:
            return sb
        row = self.store.sandbox(sid)
        if row is None:
            raise NotFound(f"no sandbox with id {sid!r}")
        sb = Sandbox(row["sandbox_id"], row["app_id"], row["name"], row["image"], row["created_at"])
        sb.state, sb.returncode, sb.info = row["state"], row["returncode"], row["info"]
        sb.ended.set()
        return sb

    def by_name(self, app_id: str, name: str) -> Sandbox:
        sid = self.store.sandbox_by_name(app_id, name)
        if sid is None:
            raise NotFound(f"no running sandbox named {name!r} in this app")
        return self.get(sid)

    def listing(self, app_id: str | None, running_only: bool = True) -> list[dict[str, Any]]:
        rows = self.store.sandboxes(app_id, running_only)
        return [
            self._live[r["sandbox_id"]].describe() if r["sandbox_id"] in self._live else r
            for r in rows
        ]

    # -- processes -------------------------------------------------------------------------------

    async def exec(self, sid: str, req: ExecCommand) -> int:
        sb = self._running(sid)
        pid = sb.next_pid
        sb.next_pid += 1
        sb.procs[pid] = Proc()
        await self._exec(sb, pid, list(req.args), req.workdir, req.env, req.timeout)
        return pid

    async def _exec(
        self,
        sb: Sandbox,
        pid: int,
        args: list[str],
        workdir: str | None,
        env: dict[str, str],
        timeout: float | None,
    ) -> None:
        if sb.process is None:
            raise InvalidRequest(f"sandbox {sb.id} is not running ({sb.state}: {sb.info})")
        payload = {
            "args": args,
            "cwd": workdir or sb.workdir,
            "env": {**sb.env, **env},
            "timeout": timeout,
        }
        try:
            await sb.process.send(FRAME_EXEC, pid, marshal.dumps(payload))
        except SandboxGone as e:
            raise InvalidRequest(f"sandbox {sb.id} is ending: {e}; create a new one") from None

    def proc(self, sid: str, pid: int) -> Proc:
        sb = self.get(sid)
        proc = sb.procs.get(pid)
        if proc is None:
            raise NotFound(f"sandbox {sid} has no process {pid} (or it ended and was forgotten)")
        return proc

    async def stdin(self, sid: str, pid: int, data: bytes, eof: bool) -> None:
        sb = self._running(sid)
        proc = self.proc(sid, pid)
        if proc.returncode is not None:
            return  # written after the process exited: nobody can read it
        assert sb.process is not None
        try:
            if data:
                await sb.process.send(FRAME_STDIN, pid, data)
            if eof:
                await sb.process.send(FRAME_STDIN_EOF, pid)
        except SandboxGone:
            return  # the sandbox is ending: its processes read nothing more

    async def wait_proc(self, sid: str, pid: int, timeout: float) -> int | None:
        proc = self.proc(sid, pid)
        with contextlib.suppress(asyncio.TimeoutError):
            await DRAINING.wait_for(proc.done.wait(), timeout)
        return proc.returncode

    async def wait(self, sid: str, timeout: float) -> Sandbox:
        sb = self.get(sid)
        with contextlib.suppress(asyncio.TimeoutError):
            await DRAINING.wait_for(sb.ended.wait(), timeout)
        return sb

    def _running(self, sid: str) -> Sandbox:
        sb = self.get(sid)
        if sb.state != "running" or sb.process is None:
            raise InvalidRequest(
                f"sandbox {sid} is not running ({sb.state}: {sb.info}); create a new one"
            )
        return sb

    # -- ending ----------------------------------------------------------------------------------

    def terminate(self, sid: str) -> Sandbox:
        sb = self.get(sid)
        self._kill(sb, "terminated")
        return sb

    def end_app(self, app_id: str) -> None:
        """Its app stopped: its sandboxes end with it."""
        for sb in list(self._live.values()):
            if sb.app_id == app_id:
                self._kill(sb, "app stopped")

    def _expire(self, sb: Sandbox) -> None:
        self._kill(sb, "timeout")

    def _kill(self, sb: Sandbox, why: str) -> None:
        if sb.state == "running" and sb.process is not None and sb.ending is None:
            sb.ending = why
            sb.process.kill()

    async def _relay(self, sb: Sandbox) -> None:
        """Pump the agent's frames into the process streams until the sandbox ends."""
        process = sb.process
        assert process is not None
        while (frame := await process.receive()) is not None:
            kind, pid, payload = frame
            proc = sb.procs.get(pid)
            if proc is None:
                continue
            if kind == FRAME_STDOUT:
                proc.stdout.append(payload)
            elif kind == FRAME_STDERR:
                proc.stderr.append(payload)
            elif kind == FRAME_EXIT and len(payload) == EXIT_CODE.size:
                proc.finish(EXIT_CODE.unpack(payload)[0])
        code, oom = await process.wait()
        if sb.ending == "timeout":
            self._end(sb, "timeout", EXIT_TIMEOUT, "ended: it outlived its timeout")
        elif sb.ending == "terminated":
            self._end(sb, "terminated", EXIT_TERMINATED, "ended: terminated")
        elif sb.ending == "app stopped":
            self._end(sb, "terminated", EXIT_TERMINATED, "ended: its app was stopped")
        elif oom:
            self._end(sb, "failed", EXIT_TERMINATED, "ended: out of memory (over its limit)")
        else:
            self._end(sb, "finished", code, f"exited with code {code}")

    def _end(self, sb: Sandbox, state: str, code: int, info: str) -> None:
        sb.state, sb.returncode, sb.info = state, code, info
        if sb.deadline:
            sb.deadline.cancel()
        for proc in sb.procs.values():
            proc.finish(EXIT_TERMINATED)  # keeps the code of a process that already exited
        if state != "finished" and MAIN_PROCESS in sb.procs:
            sb.procs[MAIN_PROCESS].returncode = code
        sb.ended.set()
        self.store.end_sandbox(sb.id, state, code, info)
        self.store.commit()
        self._ended.append(sb.id)
        while len(self._ended) > KEEP_ENDED:
            self._live.pop(self._ended.pop(0), None)

    async def close(self) -> None:
        """The server is stopping: its sandboxes end with it, and the store says so."""
        for sb in list(self._live.values()):
            if sb.state == "running" and sb.process is not None:
                sb.process.kill()
                self.store.end_sandbox(sb.id, "terminated", EXIT_TERMINATED, RESTART_INFO)
        self.store.commit()
