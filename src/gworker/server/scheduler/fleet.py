"""The container fleet: start, contact, probes, heartbeats, stop and exit of containers.

A container here is a process the backend placed and the scheduler talks to; what it serves is
its ``function``'s business (the queue's). The fleet reports an exit with leased inputs to the
queue, which decides what becomes of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from gworker_client._protocol import OutputStatus, ProbeResult, WebEndpoint

from ... import constants as C
from ...backends import Backend, CapacityError, LaunchSpec, Mount
from ...store import Store
from ..errors import NotFound
from .queue import InputQueue
from .state import Container, FunctionState

# A new container's start-up time, before any was measured.
INITIAL_START_S = 0.3


def own_ports(web: tuple[WebEndpoint, ...]) -> tuple[int, ...]:
    """The ports a container's own servers listen on, which the backend forwards into a network
    of its own; none when any endpoint is served on a port the runtime picks (fastapi, ASGI and
    WSGI endpoints stay on the host's network: they never collide)."""
    if not web or any(ep.kind not in ("web_server", "server") or not ep.port for ep in web):
        return ()
    return tuple(sorted({int(ep.port) for ep in web if ep.port}))


class Fleet:
    def __init__(
        self,
        store: Store,
        backend: Backend,
        server_url: str,
        queue: InputQueue,
        scale: Callable[[FunctionState], None],
        commit_soon: Callable[[], None],
    ) -> None:
        self.store = store
        self.backend = backend
        self.server_url = server_url
        self.queue = queue
        self._commit_soon = commit_soon
        self.by_id: dict[str, Container] = {}
        self.tokens: dict[str, str] = {}  # a container's token -> its id
        self.mean_start_s = INITIAL_START_S
        self.starved: set[str] = set()  # functions waiting for backend capacity
        # the server is stopping: a container's leased inputs stay pending in the store
        self.draining = False
        self._emptied: asyncio.Event | None = None
        self._scale = scale
        # called with each container that exited (the usage meter records its last second)
        self.exit_hooks: list[Callable[[Container], None]] = []

    def get(self, cid: str) -> Container:
        c = self.by_id.get(cid)
        if c is None:
            raise NotFound(f"container {cid} is not known to this control plane")
        return c

    def by_token(self, token: str) -> str | None:
        return self.tokens.get(token)

    def reap_stale(self) -> None:
        """Containers of a previous server process: the backend kills any still alive; their
        inputs are still pending in the store and rerun."""
        for cid, pid in self.store.live_containers():
            self.backend.reap_stale(cid, pid)
            self.store.set_container(cid, "stopped", exit_info="control plane restarted")

    # -- contact ---------------------------------------------------------------------------------

    def contact(self, cid: str) -> Container:
        """A poll from the container: its first one ends its start-up."""
        c = self.get(cid)
        now = time.monotonic()
        c.last_contact = now
        if not c.ready:
            c.ready = True
            c.function.start_failures = 0
            self.mean_start_s = 0.8 * self.mean_start_s + 0.2 * (now - c.started_at)
        return c

    def heartbeat(self, cid: str) -> bool:
        """Record contact; return whether the container should stop."""
        c = self.get(cid)
        c.last_contact = time.monotonic()
        return c.stopping

    def failed(self, cid: str, traceback: str) -> None:
        self.get(cid).failure = traceback

    def probe_result(self, cid: str, probe: ProbeResult) -> None:
        """Record a probe; act on ``failures`` in a row: replace (liveness) or hold back new
        inputs (readiness)."""
        c = self.get(cid)
        fs = c.function
        c.last_contact = time.monotonic()
        row = (cid, fs.id, fs.app_id, probe.method, probe.kind, probe.ok, probe.detail[:2000])
        self.store.add_probe((*row, probe.duration))
        self._commit_soon()
        declared = fs.spec.probe(probe.method)
        if declared is None:
            return
        failures = 0 if probe.ok else c.probe_failures.get(probe.method, 0) + 1
        c.probe_failures[probe.method] = failures
        if probe.kind == "readiness":
            was = c.accepting
            c.accepting = failures < declared.failures and (probe.ok or was)
            if c.accepting and not was:
                self.queue.dispatch(fs)
        elif failures >= declared.failures and not c.stopping:
            self.stop(c, kill_reason="replaced", force=True)
            self._scale(fs)

    # -- start -----------------------------------------------------------------------------------

    def start(self, fs: FunctionState) -> None:
        cid = "ct-" + uuid.uuid4().hex[:20]
        token = secrets.token_urlsafe(24)
        c = Container(cid, fs, token)
        # a container whose class has a readiness probe takes no input before it passes
        c.accepting = not any(p.kind == "readiness" for p in fs.spec.probes)
        fs.containers[cid] = c
        self.by_id[cid] = c
        self.tokens[token] = cid
        self.store.add_container(cid, fs.id, fs.app_id)
        self._commit_soon()
        asyncio.get_running_loop().create_task(self._launch(c, self._launch_spec(c)))

    def _launch_spec(self, c: Container) -> LaunchSpec:
        fs, spec = c.function, c.function.spec
        app = self.store.app(fs.app_id)
        return LaunchSpec(
            container_id=c.id,
            function_id=fs.id,
            app_id=fs.app_id,
            env={
                "GW_SERVER_URL": self.server_url,
                "GW_CONTAINER_ID": c.id,
                "GW_TOKEN_ID": c.id,
                "GW_TOKEN_SECRET": c.token,
                # lookups from inside default to the app's own environment, as in Modal
                "GW_ENVIRONMENT": app["environment"] if app else "main",
                # what Modal's containers are told, which apps read (a replica's identity)
                "MODAL_TASK_ID": c.id,
                "MODAL_ENVIRONMENT": app["environment"] if app else "main",
                "MODAL_IS_REMOTE": "1",
            },
            cpu=spec.cpu,
            memory_mib=spec.memory,
            gpu=spec.gpu,
            image=spec.image or {},
            cpu_limit=spec.cpu_limit,
            memory_limit_mib=spec.memory_limit,
            block_network=spec.block_network,
            ephemeral_disk_mib=spec.ephemeral_disk,
            web_ports=own_ports(spec.web),
            mounts=[
                *(Mount(v.mount_path, volume_id=v.volume_id) for v in spec.volumes),
                *(Mount(n.mount_path, nfs_id=n.nfs_id) for n in spec.network_file_systems),
                # a bucket mount: a directory of the container's own, synced by its runtime
                *(Mount(b.mount_path, read_only=b.read_only) for b in spec.bucket_mounts),
            ],
        )

    async def _launch(self, c: Container, spec: LaunchSpec) -> None:
        try:
            placed = await self.backend.start(spec)
        except CapacityError:  # another start took the room first: retry when some frees up
            self._forget(c, "no capacity")
            self.starved.add(c.function.id)
            return
        except Exception as e:
            c.failure = f"the backend could not start the container: {e}"
            self.by_id[c.id] = c
            self.exited(c.id, "not started")
            return
        c.gpu = placed.gpu
        c.node = placed.node
        c.web_relay = placed.web_relay
        c.forwards = placed.forwards
        c.placed.set()
        self.store.set_container(c.id, "running", pid=placed.pid)
        self._commit_soon()

    def _forget(self, c: Container, info: str) -> None:
        self.by_id.pop(c.id, None)
        c.function.containers.pop(c.id, None)
        self.tokens.pop(c.token, None)
        self.store.set_container(c.id, "stopped", exit_info=info)
        self._commit_soon()

    # -- stop and exit ---------------------------------------------------------------------------

    def stop(self, c: Container, kill_reason: str | None = None, force: bool = False) -> None:
        """Stop gracefully if idle. A container holding inputs, or one that must go at once
        (``force``), is killed only with a reason: the status its inputs get."""
        c.stopping = True
        if kill_reason is not None and (c.leased or force):
            c.kill_reason = kill_reason
            asyncio.get_running_loop().create_task(self.backend.stop(c.id, force=force))
        elif c.waiter is not None and not c.waiter.done():
            c.waiter.set_result(None)
        elif not c.leased:
            asyncio.get_running_loop().create_task(self.backend.stop(c.id))

    def drain(self, fs: FunctionState) -> None:
        """Stop a retired function's containers that hold nothing."""
        for c in list(fs.containers.values()):
            if not c.leased and not fs.pending:
                self.stop(c)

    def exited(self, cid: str, info: str) -> None:
        """The backend says the container's process is gone."""
        c = self.by_id.pop(cid, None)
        if c is None:
            return
        fs = c.function
        fs.containers.pop(cid, None)
        self.tokens.pop(c.token, None)
        for hook in self.exit_hooks:
            hook(c)
        if c.waiter is not None and not c.waiter.done():
            c.waiter.cancel()
        if c.leased and not self.draining:
            self.queue.orphaned(c, info)
        c.leased = {}
        if not c.ready and c.kill_reason is None and not self.draining:
            self._start_failed(fs, c, info)
        self.store.set_container(cid, "stopped", exit_info=c.failure or info)
        self.store.commit()
        if not self.by_id and self._emptied is not None:
            self._emptied.set()
        self._scale(fs)
        for fid in list(self.starved):  # the freed capacity may let another function start
            starved = self.queue.functions.find(fid)
            if starved is not None:
                self._scale(starved)

    def _start_failed(self, fs: FunctionState, c: Container, info: str) -> None:
        fs.start_failures += 1
        if fs.start_failures < C.MAX_START_FAILURES:
            return
        fs.start_failures = 0
        detail = c.failure or f"the container exited during start-up ({info})"
        message = (
            f"containers for {fs.tag!r} failed to start {C.MAX_START_FAILURES} times in a row;"
            f" the last failure:\n{detail}"
        )
        fs.start_error = message  # the gateway answers its waiting web requests with it
        self.queue.fail_pending(fs, lambda _: True, OutputStatus.INTERNAL, message)

    async def all_exited(self, timeout: float) -> None:
        """Return once the backend reported every container's exit (or ``timeout`` passed)."""
        if not self.by_id:
            return
        self._emptied = asyncio.Event()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._emptied.wait(), timeout)

    # -- the control tick ------------------------------------------------------------------------

    def sweep(self, fs: FunctionState, now: float) -> None:
        """Stop idle containers past the function's idle timeout (above its floor), and kill
        busy ones past their input's timeout or silent too long."""
        idle = fs.idle()
        excess = len(fs.active()) - max(fs.floor, 1 if fs.pending or fs.web_waiting else 0)
        for c in sorted(idle, key=lambda c: c.idle_since):
            if excess <= 0:
                break
            if not fs.live or now - c.idle_since > fs.spec.idle_timeout:
                self.stop(c)
                excess -= 1
        # a retiring container's last inputs are held to their timeout as any others
        for c in list(fs.containers.values()):
            if not c.leased or c.kill_reason is not None:
                continue
            if now - c.lease_started > fs.spec.timeout + C.TIMEOUT_GRACE_S:
                self.stop(c, kill_reason="timeout", force=True)
            elif now - c.last_contact > C.CONTAINER_SILENCE_S:
                self.stop(c, kill_reason="died", force=True)

    def of_app(self, app_id: str) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "id": c.id,
                "function": c.function.tag,
                "params": c.function.params or {},
                "state": "stopping" if c.stopping else ("busy" if c.leased else "idle"),
                "inputs": len(c.leased),
                "accepting": c.accepting,
                "gpu": c.gpu,
                "node": c.node,
                "age_s": now - c.started_at,
            }
            for c in self.by_id.values()
            if c.function.app_id == app_id
        ]
