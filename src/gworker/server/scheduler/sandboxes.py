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
from collections.abc import Awaitable, Callable
from typing import Any

from gworker_client._protocol.sandbox import (
    EXIT_TERMINATED,
    EXIT_TIMEOUT,
    FRAME_EXEC,
    FRAME_FS,
    FRAME_RESIZE,
    FRAME_STDIN,
    FRAME_STDIN_EOF,
    MAIN_PROCESS,
    WINSIZE,
    CreateSandbox,
    ExecCommand,
    TunnelInfo,
)

from ...backends.base import CapacityError
from ...backends.sandbox import IsolationFailed, SandboxGone, SandboxLaunch, SandboxProcess
from ...backends.sandbox_ports import ForwardError
from ...store import Store
from ..draining import DRAINING
from ..errors import Conflict, InvalidRequest, NotFound
from .sandbox_reach import SandboxReach, allowlist
from .sandbox_state import Proc, Sandbox
from .sandbox_watch import SandboxWatch

log = logging.getLogger("gworker.sandboxes")
# Ended sandboxes kept in memory (their output stays readable); older ones keep only their row.
KEEP_ENDED = 200
RESTART_INFO = "ended: the control plane restarted (sandboxes do not survive a restart)"
FILE_OP_TIMEOUT_S = 60.0
# A sandbox asking for GPUs that others hold waits this long, trying again this often.
GPU_WAIT_S = 300.0
GPU_RETRY_S = 0.25
START_ATTEMPTS = 3


def _busy(sb: Sandbox) -> bool:
    """Whether a command other than the main one is running (the sandbox is in use)."""
    return any(pid != MAIN_PROCESS and p.returncode is None for pid, p in sb.procs.items())


StartSandbox = Callable[[SandboxLaunch], Any]  # async: the backend's start_sandbox
SecretEnv = Callable[[CreateSandbox], dict[str, str]]


class Sandboxes:
    def __init__(
        self, store: Store, start: StartSandbox, secret_env: SecretEnv, server_url: str = ""
    ) -> None:
        self.store = store
        self.reach = SandboxReach(server_url)
        self.tunnels = self.reach.tunnels
        self.tunnels.used = self._used
        self._start = start
        self._secret_env = secret_env
        self._live: dict[str, Sandbox] = {}  # running and recently ended, by id
        # Function containers a user attached to (``attach``): driven like sandboxes but kept
        # apart, so the routes can hold them to a user's token and listings never show them.
        self._attached: dict[str, Sandbox] = {}
        self._attaching: dict[str, asyncio.Lock] = {}  # one agent start per container at a time
        self._ended: list[str] = []

    def _used(self, sid: str) -> None:
        sb = self._live.get(sid)
        if sb is not None and sb.watch is not None:
            sb.watch.touch()

    def keeper_by_token(self, secret: str) -> str | None:
        return self.reach.keeper_by_token(secret)

    def keeper_volumes(self, token_id: str) -> frozenset[str] | None:
        return self.reach.keeper_volumes(token_id)

    def tunnel_info(self, sid: str) -> list[TunnelInfo]:
        self.get(sid)
        return self.reach.tunnel_info(sid)

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
        allow = allowlist(req)
        self.reach.check(req)  # before its command runs or its volumes could be committed
        env = {**self._secret_env(req), **req.env}
        image = str(req.image.get("digest") or req.image.get("base") or "image")[:32]
        sb = Sandbox(req.sandbox_id, req.app_id, req.name, image, time.time())
        launch = SandboxLaunch(
            req.image,
            workdir=req.workdir,
            cpu=req.cpu,
            memory_mib=req.memory_mib,
            block_network=req.block_network,
            volumes=tuple(req.volumes),
            keeper_env=(
                self.reach.keeper_env(sb, [v.volume_id for v in req.volumes]) if req.volumes else ()
            ),
            cidr_allowlist=allow,
            gpu=tuple(req.gpu or ()),
        )
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
        try:
            await self.reach.open_ports(sb, req)
        except Exception as e:  # whatever it is, the sandbox must not be left running
            assert sb.process is not None
            sb.process.kill()
            await sb.process.wait()  # releases its GPU, cgroup and network
            self._end(sb, "failed", 1, f"could not start: {e}")
            if not isinstance(e, (InvalidRequest, ForwardError)):
                log.exception("opening the ports of sandbox %s failed", sb.id)
            raise InvalidRequest(f"the sandbox could not start: {e}") from None
        loop = asyncio.get_running_loop()
        loop.create_task(self._relay(sb))
        sb.deadline = loop.call_later(req.timeout, self._expire, sb)
        sb.watch = SandboxWatch(
            idle_timeout=req.idle_timeout,
            busy=lambda: _busy(sb) or self.tunnels.in_use(sb.id),
            end_idle=lambda: self._kill(sb, "idle"),
            probe=req.readiness_probe,
            ask=lambda r, t: self.ask(sb, r, t),
            env=env,
            workdir=req.workdir,
        )
        sb.watch.start()
        return sb

    async def _launch(self, sb: Sandbox, launch: SandboxLaunch, args: list[str]) -> None:
        """Start it and its main command; a warm sandbox that died idle is replaced once."""
        failures = 0
        for attempt in (1, 2):
            while True:
                try:
                    sb.process = await self._start_when_room(launch)
                    break
                except IsolationFailed:
                    failures += 1
                    if failures == START_ATTEMPTS:
                        raise
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

    async def _start_when_room(self, launch: SandboxLaunch) -> SandboxProcess:
        """Start it; one that asks for GPUs all held by others waits for one to be free."""
        deadline = time.monotonic() + GPU_WAIT_S
        while True:
            try:
                process: SandboxProcess = await self._start(launch)
                return process
            except CapacityError as e:
                if time.monotonic() >= deadline:
                    raise InvalidRequest(f"no GPU was free within {GPU_WAIT_S:g} s: {e}") from None
            await asyncio.sleep(GPU_RETRY_S)

    async def attach(
        self, cid: str, app_id: str, start: Callable[[str], Awaitable[SandboxProcess]]
    ) -> Sandbox:
        """A function container, driven like a sandbox (``exec``, stdio, files) through an
        agent the backend starts inside it; one per container, reused while it runs. Concurrent
        attaches wait for the first one's agent rather than starting a second."""
        async with self._attaching.setdefault(cid, asyncio.Lock()):
            sb = self._attached.get(cid)
            if sb is not None and sb.state == "running":
                return sb
            process = await start(cid)
            sb = Sandbox(cid, app_id, None, "its container's", time.time())
            sb.process = process
            self._attached[cid] = sb
            asyncio.get_running_loop().create_task(self._relay(sb))
            return sb

    def attached(self, sid: str) -> bool:
        """Whether ``sid`` is a function container a user attached to (not a sandbox)."""
        return sid in self._attached

    def get(self, sid: str) -> Sandbox:
        sb = self._live.get(sid) or self._attached.get(sid)
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
        if sb.watch:
            sb.watch.touch()
        pid = sb.next_pid
        sb.next_pid += 1
        sb.procs[pid] = Proc()
        await self._exec(sb, pid, list(req.args), req.workdir, req.env, req.timeout, req.pty)
        if req.pty is not None:
            sb.procs[pid].stderr.close()  # a terminal has one output stream
        return pid

    async def _exec(
        self,
        sb: Sandbox,
        pid: int,
        args: list[str],
        workdir: str | None,
        env: dict[str, str],
        timeout: float | None,
        pty: tuple[int, int] | None = None,
    ) -> None:
        if sb.process is None:
            raise InvalidRequest(f"sandbox {sb.id} is not running ({sb.state}: {sb.info})")
        payload = {
            "args": args,
            "cwd": workdir or sb.workdir,
            "env": {**sb.env, **env},
            "timeout": timeout,
            "pty": pty,
        }
        try:
            await sb.process.send(FRAME_EXEC, pid, marshal.dumps(payload))
        except SandboxGone as e:
            raise InvalidRequest(f"sandbox {sb.id} is ending: {e}; create a new one") from None

    async def request(
        self, sid: str, req: dict[str, Any], timeout: float = FILE_OP_TIMEOUT_S
    ) -> tuple[int, bytes]:
        """Have the agent do a file operation or probe: ``(0 or errno, bytes)``."""
        sb = self._running(sid)
        if sb.watch and req.get("op") != "connect":
            sb.watch.touch()
        return await self.ask(sb, req, timeout)

    async def ask(self, sb: Sandbox, req: dict[str, Any], timeout: float) -> tuple[int, bytes]:
        if sb.process is None or sb.state != "running":
            raise InvalidRequest(f"sandbox {sb.id} is not running ({sb.state}: {sb.info})")
        number = sb.next_request
        sb.next_request += 1
        waiter = sb.requests[number] = asyncio.get_running_loop().create_future()
        try:
            await sb.process.send(FRAME_FS, number, marshal.dumps(req))
            return await asyncio.wait_for(waiter, timeout)
        except SandboxGone as e:
            raise InvalidRequest(f"sandbox {sb.id} is ending: {e}") from None
        except asyncio.TimeoutError:
            raise InvalidRequest(
                f"sandbox {sb.id} did not answer a {req.get('op')} request within {timeout:g} s"
                " (is the file a FIFO or on a stalled filesystem?)"
            ) from None
        finally:
            sb.requests.pop(number, None)

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
        if sb.watch:
            sb.watch.touch()
        try:
            if data:
                await sb.process.send(FRAME_STDIN, pid, data)
            if eof:
                await sb.process.send(FRAME_STDIN_EOF, pid)
        except SandboxGone:
            return  # the sandbox is ending: its processes read nothing more

    async def resize(self, sid: str, pid: int, rows: int, cols: int) -> None:
        sb = self._running(sid)
        self.proc(sid, pid)
        assert sb.process is not None
        with contextlib.suppress(SandboxGone):
            await sb.process.send(FRAME_RESIZE, pid, WINSIZE.pack(rows, cols))

    async def wait_proc(self, sid: str, pid: int, timeout: float) -> int | None:
        proc = self.proc(sid, pid)
        with contextlib.suppress(asyncio.TimeoutError):
            await DRAINING.wait_for(proc.done.wait(), timeout)
        return proc.returncode

    async def wait_ready(self, sid: str, timeout: float) -> bool:
        """Whether its readiness probe passed (waiting up to ``timeout`` for it)."""
        sb = self.get(sid)
        if sb.watch is None or not sb.watch.has_probe:
            raise InvalidRequest(
                f"sandbox {sid} has no readiness_probe: create it with"
                " readiness_probe=gw.Probe.with_tcp(port) or gw.Probe.with_exec(...)"
            )
        ready = asyncio.ensure_future(sb.watch.ready.wait())
        ended = asyncio.ensure_future(sb.ended.wait())
        await asyncio.wait({ready, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        ended.cancel()
        return sb.watch.ready.is_set()

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

    def running_in(self, app_id: str) -> bool:
        """Whether the app has a running sandbox (a detached app keeps running for it)."""
        return any(sb.app_id == app_id and sb.state == "running" for sb in self._live.values())

    def end_app(self, app_id: str) -> None:
        """Its app stopped: its sandboxes end with it."""
        for sb in [*self._live.values(), *self._attached.values()]:
            if sb.app_id == app_id:
                self._kill(sb, "app stopped")

    def _expire(self, sb: Sandbox) -> None:
        self._kill(sb, "timeout")

    def _kill(self, sb: Sandbox, why: str) -> None:
        if sb.state == "running" and sb.process is not None and sb.ending is None:
            sb.ending = why
            sb.process.kill()

    async def _relay(self, sb: Sandbox) -> None:
        """Relay its agent's frames until the agent ends, then end it saying why."""
        code, oom = await sb.pump()
        if sb.ending == "timeout":
            self._end(sb, "timeout", EXIT_TIMEOUT, "ended: it outlived its timeout")
        elif sb.ending == "idle":
            idle = sb.watch.idle_timeout if sb.watch else 0
            self._end(sb, "timeout", EXIT_TIMEOUT, f"ended: idle for {idle} s (idle_timeout)")
        elif sb.ending == "terminated":
            self._end(sb, "terminated", EXIT_TERMINATED, "ended: terminated")
        elif sb.ending == "app stopped":
            self._end(sb, "terminated", EXIT_TERMINATED, "ended: its app was stopped")
        elif oom:
            self._end(sb, "failed", EXIT_TERMINATED, "ended: out of memory (over its limit)")
        else:
            self._end(sb, "finished", code, f"exited with code {code}")

    def _end(self, sb: Sandbox, state: str, code: int, info: str) -> None:
        if sb.process is not None and sb.process.volume_problem:
            info += f"; committing its volumes failed: {sb.process.volume_problem}"
        sb.state, sb.returncode, sb.info = state, code, info
        if sb.deadline:
            sb.deadline.cancel()
        if sb.watch:
            sb.watch.stop()
        self.tunnels.remove(sb.id)
        self.reach.forget_keeper(sb)  # its volumes are committed by now: the token goes
        for waiter in sb.requests.values():
            if not waiter.done():
                waiter.set_exception(InvalidRequest(f"sandbox {sb.id} {info}"))
        sb.requests.clear()
        for proc in sb.procs.values():
            proc.finish(EXIT_TERMINATED)  # keeps the code of a process that already exited
        if state != "finished" and MAIN_PROCESS in sb.procs:
            sb.procs[MAIN_PROCESS].returncode = code
        sb.ended.set()
        if sb.id in self._attached:
            self._attaching.pop(sb.id, None)  # no row: it is not a sandbox
        else:
            self.store.end_sandbox(sb.id, state, code, info)
            self.store.commit()
        self._ended.append(sb.id)
        while len(self._ended) > KEEP_ENDED:
            gone = self._ended.pop(0)
            self._live.pop(gone, None)
            if (held := self._attached.get(gone)) is not None and held.state != "running":
                del self._attached[gone]

    async def close(self) -> None:
        """The server is stopping: its sandboxes end with it, and the store says so."""
        await self.tunnels.close()
        for sb in self._attached.values():
            if sb.process is not None:
                sb.process.kill()
        for sb in list(self._live.values()):
            if sb.state == "running" and sb.process is not None:
                sb.process.kill()
                self.store.end_sandbox(sb.id, "terminated", EXIT_TERMINATED, RESTART_INFO)
        self.store.commit()
