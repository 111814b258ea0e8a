"""``Scheduler``: the one object routes talk to. It wires the queue, the fleet and the
autoscaler together, owns apps' heartbeats and the control tick, and hides the rest."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from gworker_client._protocol import (
    ContainerOutput,
    ContainerSpec,
    OutputStatus,
    ProbeResult,
    PublishedFunction,
    SecretRef,
    SpecOverrides,
    apply_overrides,
    spec_problem,
    to_builtins,
)
from gworker_client._protocol.limits import blob_digest

from ... import constants as C
from ...backends import Backend
from ...store import Store
from .. import memory
from ..app_logs import AppLogs
from ..call_book import CallBook
from ..errors import InvalidRequest, NotFound
from . import autoscaler
from .fleet import Fleet
from .functions import FunctionTable
from .queue import InputQueue
from .state import CallState, Container, FunctionState, Input

log = logging.getLogger("gworker.scheduler")
# A function's secrets, decrypted into its containers' environment (injected by the app: the
# scheduler knows no secrets module).
SecretEnv = Callable[[Store, list[dict[str, Any]]], dict[str, str]]


class Scheduler:
    def __init__(
        self, store: Store, backend: Backend, server_url: str, secret_env: SecretEnv
    ) -> None:
        self.store = store
        self.backend = backend
        self.secret_env = secret_env
        self.functions = FunctionTable(store)
        self.calls = CallBook(store)
        self.logs = AppLogs(store, self._commit_soon)
        self.queue = InputQueue(
            store, self.functions, self.calls, self._scale, self._kill, self._commit_soon
        )
        self.fleet = Fleet(store, backend, server_url, self.queue, self._scale, self._commit_soon)
        self.gpu_fallback = os.environ.get("GW_GPU_FALLBACK", "")
        if self.gpu_fallback not in C.GPU_FALLBACKS:
            raise ValueError(
                f"GW_GPU_FALLBACK={self.gpu_fallback!r} is not one of {C.GPU_FALLBACKS}: set it"
                " to 'cpu' to run functions without the GPU they ask for, or leave it unset"
            )
        self._app_heartbeats: dict[str, float] = {}
        # detached apps whose client is gone: they stop once they have no work left
        self._detached_gone: set[str] = set()
        self._tick_task: asyncio.Task[None] | None = None
        self._commit_pending = False
        self.draining = False  # the server is stopping: start nothing more
        self._trimmed_at = time.monotonic()
        # called with an app's id when it stops (its sandboxes end with it)
        self.app_stopped: list[Callable[[str], None]] = []
        # asked whether an app has work outside its functions (its running sandboxes)
        self.app_busy: list[Callable[[str], bool]] = []
        # called by every tick with the monotonic time (sweeps that keep their own pace)
        self.maintenance: list[Callable[[float], None]] = []
        backend.bind(self)

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.fleet.reap_stale()
        self.functions.load_live()
        now = time.time()
        for iid, call_id, idx, fid, args, attempts, not_before in self.store.pending_inputs():
            fs = self.functions.find(fid)
            if fs is None:
                try:
                    fs = self.functions.get(fid)
                except Exception:  # a retired function with an unreadable spec: skip it
                    log.exception("pending input %s of function %s cannot be queued", iid, fid)
                    continue
            inp = Input(iid, call_id, idx, fid, args, attempts)
            if not_before > now:
                self.queue.requeue_later(fs, inp, not_before - now)
            else:
                fs.pending.append(inp)
        for app in self.store.apps():
            if app["mode"] in ("ephemeral", "detached") and app["state"] == "running":
                self._app_heartbeats[app["id"]] = time.monotonic()
        self.store.commit()
        for fs in self.functions:
            self._scale(fs)
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_loop())

    async def drain(self) -> None:
        """The server is stopping: stop every container as gracefully as its grace period
        allows (SIGTERM, then SIGKILL after ``STOP_GRACE_S``) while the server still answers
        it, so its exit hooks run and its volumes commit. Idle containers are told to stop by
        their poll. Inputs they held stay pending in the store and run after a restart."""
        self.draining = self.fleet.draining = True
        if self._tick_task:
            self._tick_task.cancel()
        containers = list(self.fleet.by_id.values())
        for c in containers:
            c.stopping = True
            if c.waiter is not None and not c.waiter.done():
                c.waiter.set_result(None)
        log.info("stopping %d containers (grace %gs)", len(containers), C.STOP_GRACE_S)
        await asyncio.gather(*(self.backend.stop(c.id) for c in containers))
        await self.fleet.all_exited(timeout=2.0)  # their exits recorded before the store closes
        self.store.commit()

    async def close(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
        await self.backend.close()
        self.store.commit()

    def _commit_soon(self) -> None:
        """Commit within COMMIT_DELAY_S: writes nobody was promised (outputs, container
        states, logs) share one commit instead of paying one each (see CallBook.record)."""
        if not self._commit_pending:
            self._commit_pending = True
            asyncio.get_running_loop().call_later(C.COMMIT_DELAY_S, self._commit_now)

    def commit_soon(self) -> None:
        """For routes whose writes acknowledge nothing (an audit entry)."""
        self._commit_soon()

    def _commit_now(self) -> None:
        self._commit_pending = False
        self.store.commit()

    # -- apps and functions ----------------------------------------------------------------------

    def app_created(self, app_id: str, mode: str) -> None:
        """An ephemeral app lives while its client's heartbeats come; a detached one, also
        after that, for as long as it has work."""
        if mode in ("ephemeral", "detached"):
            self._app_heartbeats[app_id] = time.monotonic()

    def app_disconnected(self, app_id: str) -> None:
        """The client of an ephemeral app left: stop it, or (detached) let it finish its work."""
        app = self.store.app(app_id)
        if app is None or app["state"] != "running":
            return
        if app["mode"] == "detached":
            self._app_heartbeats.pop(app_id, None)
            self._detached_gone.add(app_id)
            self.app_log(app_id, "system", "client disconnected; the detached app runs its calls\n")
        else:
            self.stop_app(app_id)

    def _has_work(self, app_id: str) -> bool:
        """Inputs queued, running or waiting out a retry delay, web requests held or in
        flight, or running sandboxes."""
        for fs in self.functions.of_app(app_id):
            if fs.pending or fs.retrying or fs.web_waiting:
                return True
            if any(c.leased or c.web_requests for c in fs.containers.values()):
                return True
        return any(busy(app_id) for busy in self.app_busy)

    def app_heartbeat(self, app_id: str) -> None:
        if app_id in self._app_heartbeats:
            self._app_heartbeats[app_id] = time.monotonic()

    def publish(
        self, app_id: str, module: str, code_blob: str, functions: list[PublishedFunction]
    ) -> dict[str, str]:
        app = self.store.app(app_id)
        if app is None or app["state"] != "running":
            raise NotFound(f"app {app_id} is not running")
        version = self.store.bump_app_version(app_id)
        ids: dict[str, str] = {}
        for f in functions:
            fid = "fu-" + uuid.uuid4().hex[:20]
            spec = to_builtins(f.spec)
            self.store.add_function(fid, app_id, f.tag, version, module, code_blob, spec)
            ids[f.tag] = fid
        self.store.retire_functions(app_id, ids.values())
        self.store.commit()
        for fs in self.functions.of_app(app_id):
            if fs.id not in ids.values():
                fs.live = False
                self.fleet.drain(fs)
        for fid in ids.values():
            self._scale(self.functions.get(fid))
        return ids

    def bind(self, fid: str, key: str, params: dict[str, Any], overrides: SpecOverrides) -> str:
        """A class bound to one set of parameter values, or a function or class with option
        overrides (a variant): its own function id and containers, made once per ``key``."""
        parent = self.store.function(fid)
        if parent is None:
            raise NotFound(f"function {fid} does not exist")
        tag = parent["tag"]
        if parent["parent_id"]:
            raise InvalidRequest(f"{fid} is a bound {tag!r}: bind {parent['parent_id']} instead")
        spec = self.functions.get(fid).spec
        if params and not spec.params:
            raise InvalidRequest(f"{tag!r} takes no parameters, but got {', '.join(params)}")
        given = overrides.given()
        if not params and not given:
            return fid
        if given and spec.web and spec.kind == "function":
            raise InvalidRequest(
                f"{tag!r} is a web endpoint: it is served with the options it was published"
                " with; change them in its decorator"
            )
        try:
            variant = apply_overrides(spec, overrides)
        except ValueError as e:
            raise InvalidRequest(f"{tag!r}: {e}") from None
        problem = spec_problem(variant)
        if problem is not None:
            raise InvalidRequest(f"{tag!r} with {_listed(given)}: {problem}")
        bound = self.store.bind_function(parent, key, params, to_builtins(variant))
        self.store.commit()
        self._scale(self.functions.get(bound))  # a variant may keep containers warm
        return bound

    def stop_app(self, app_id: str) -> None:
        self.store.stop_app(app_id)
        self._app_heartbeats.pop(app_id, None)
        self._detached_gone.discard(app_id)
        for fs in self.functions.of_app(app_id):
            fs.live = False
            message = f"app of {fs.tag!r} was stopped"
            self.queue.fail_pending(fs, lambda _: True, OutputStatus.STOPPED, message)
            for c in list(fs.containers.values()):
                self.fleet.stop(c, kill_reason="stopped")
        for hook in self.app_stopped:
            hook(app_id)
        self.store.commit()

    def app_log(self, app_id: str, stream: str, text: str) -> None:
        self.logs.append(app_id, stream, text)

    async def wait_logs(self, app_id: str, after: int, timeout: float) -> list[Any]:
        return await self.logs.wait(app_id, after, timeout)

    def container_count(self, app_id: str) -> int:
        return sum(len(fs.containers) for fs in self.functions.of_app(app_id))

    # -- calls -----------------------------------------------------------------------------------

    def submit(
        self,
        fid: str | None,
        call_id: str,
        items: list[tuple[int, bytes]],
        total: int | None,
        acknowledge: bool = True,
        objects: list[str] | None = None,
    ) -> CallState:
        """Store a call's inputs and queue them (see ``InputQueue.submit``); ``objects`` are
        the named objects pickled into them, which its containers may use (scope.py)."""
        target = fid if fid is not None else self.calls.get(call_id).function_id
        self._check_gpu(self.functions.get(target))
        return self.queue.submit(fid, call_id, items, total, acknowledge, objects or [])

    def _check_gpu(self, fs: FunctionState) -> None:
        """Refuse a GPU request no device here can satisfy, naming what exists; with
        ``GW_GPU_FALLBACK=cpu`` run the function without a GPU instead, and say so."""
        request = fs.spec.gpu
        if not request or self.backend.can_ever_place(request):
            return
        asked = " or ".join(f"{g.type}:{g.count}" for g in request)
        if self.gpu_fallback != "cpu":
            raise InvalidRequest(
                f"{fs.tag!r} asks for gpu {asked}, which no device here can satisfy; this"
                f" {self.backend.name} backend has {self.backend.gpu_summary()} (set"
                " GW_GPU_FALLBACK=cpu on the server to run such functions without a GPU)"
            )
        fs.spec = msgspec.structs.replace(fs.spec, gpu=None)
        self.app_log(
            fs.app_id,
            "stderr",
            f"gworker: {fs.tag!r} asks for gpu {asked}, which this machine does not have; it runs"
            " without a GPU because the server has GW_GPU_FALLBACK=cpu\n",
        )

    async def wait_outputs(
        self, call_id: str, after: int, timeout: float
    ) -> tuple[list[tuple[int, int, str, bytes]], int | None]:
        """A call's outputs after the cursor ``after``, waiting up to ``timeout`` for the first."""
        return await self.calls.wait(call_id, after, timeout)

    # -- web endpoints: the gateway's requests count as load ------------------------------------

    @property
    def server_url(self) -> str:
        """Where containers (and printed web URLs) reach this control plane."""
        return self.fleet.server_url

    def container(self, cid: str) -> Container:
        return self.fleet.get(cid)

    def web_function(self, fid: str) -> FunctionState | None:
        """A live function's state, or None (an unknown or stopped function)."""
        try:
            fs = self.functions.get(fid)
        except NotFound:
            return None
        return fs if fs.live else None

    def web_demand(self, fs: FunctionState) -> None:
        """The gateway holds a request for ``fs``, or one of its containers reached its target
        of requests in flight: rescale (idle scale-down stays with the tick)."""
        self._scale(fs)

    def persist_call(self, call_id: str) -> None:
        """A call held only in memory (an awaited ``.remote()``) whose caller will now ask for
        it by id: store it, so it survives a restart."""
        if call_id in self.calls.awaited:
            self.calls.persist(call_id)
            self.store.commit()

    def cancel(self, call_id: str, terminate_containers: bool) -> None:
        self.queue.cancel(call_id, terminate_containers)

    def stats(self, fid: str) -> dict[str, int]:
        fs = self.functions.get(fid)
        return {"backlog": len(fs.pending), "num_total_runners": len(fs.active())}

    # -- containers ------------------------------------------------------------------------------

    def container_by_token(self, token: str) -> str | None:
        return self.fleet.by_token(token)

    def container_spec(self, cid: str) -> ContainerSpec:
        fs = self.fleet.get(cid).function
        return ContainerSpec(
            container_id=cid,
            app_id=fs.app_id,
            function_id=fs.id,
            tag=fs.tag,
            module=fs.module,
            code_blob=fs.code_blob,
            spec=fs.spec,
            params=fs.params or {},
            functions=self.store.app_functions(fs.app_id),
            env=self.secret_env(self.store, [_secret(r) for r in fs.spec.secrets]),
            mounts=fs.spec.volumes,
        )

    async def poll(
        self, cid: str, outputs: list[ContainerOutput], slots: int, timeout: float
    ) -> list[Input] | None:
        """Take a container's outputs; give it its next lease, or None when it should stop."""
        c = self.fleet.contact(cid)
        lease = await self.queue.poll(c, outputs, slots, timeout)
        for inp in lease or ():
            digest = blob_digest(inp.args)
            if digest:  # a large argument: this container may now read its blob (scope.py)
                c.blobs.add(digest)
            passed = self.calls.objects_of(inp.call_id)
            if passed:  # objects passed in the call's arguments: it may use them (scope.py)
                c.objects |= passed
        return lease

    def heartbeat(self, cid: str) -> bool:
        """Record contact; return whether the container should stop."""
        return self.fleet.heartbeat(cid)

    def container_failed(self, cid: str, traceback: str) -> None:
        self.fleet.failed(cid, traceback)

    def probe_result(self, cid: str, probe: ProbeResult) -> None:
        self.fleet.probe_result(cid, probe)

    def containers_of(self, app_id: str) -> list[dict[str, Any]]:
        return self.fleet.of_app(app_id)

    # backend events

    def container_log(self, cid: str, stream: str, text: str) -> None:
        c = self.fleet.by_id.get(cid)
        if c is not None:
            self.logs.append(c.function.app_id, stream, text, cid)

    def container_exited(self, cid: str, info: str) -> None:
        self.fleet.exited(cid, info)

    # -- autoscaling and the control tick --------------------------------------------------------

    def _kill(self, c: Container, reason: str) -> None:
        self.fleet.stop(c, kill_reason=reason)

    def _scale(self, fs: FunctionState) -> None:
        """Start containers up to what the autoscaler wants while the backend has room."""
        if self.draining:
            return
        if self.gpu_fallback:  # a web request or min_workers may start it before any call
            self._check_gpu(fs)
        snap = autoscaler.snapshot(fs, self.fleet.mean_start_s)
        spec = fs.spec
        for _ in range(autoscaler.desired(snap, time.monotonic()) - snap.active):
            if not self.backend.has_room(spec.cpu, spec.memory, spec.gpu):
                self.fleet.starved.add(fs.id)
                self._reclaim_idle(exclude=fs)
                return
            self.fleet.start(fs)
        self.fleet.starved.discard(fs.id)

    def _reclaim_idle(self, exclude: FunctionState) -> None:
        """Stop one idle container of another function (above its floor) to make room."""
        for fs in self.functions:
            idle = fs.idle()
            if fs is not exclude and idle and len(fs.active()) > fs.floor:
                self.fleet.stop(min(idle, key=lambda c: c.idle_since))
                return

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(C.TICK_S)
            try:
                self._tick()
            except Exception:  # the control loop must survive any one bad state
                log.exception("scheduler tick failed")

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._trimmed_at > C.TRIM_EVERY_S and not any(f.pending for f in self.functions):
            self._trimmed_at = now
            memory.trim()
        for app_id, seen in list(self._app_heartbeats.items()):
            if now - seen > C.EPHEMERAL_APP_SILENCE_S:
                self.app_disconnected(app_id)
        for app_id in list(self._detached_gone):
            if not self._has_work(app_id):
                self.app_log(app_id, "system", "the detached app has no work left; stopping it\n")
                self.stop_app(app_id)
        for fs in self.functions:
            self.fleet.sweep(fs, now)
            self._scale(fs)
            if not fs.live and not fs.containers and not fs.pending:
                self.functions.forget(fs.id)
        self.calls.forget_finished()
        for sweep in self.maintenance:
            sweep(now)

    def describe(self) -> dict[str, Any]:
        return {
            "functions": len(self.functions),
            "containers": len(self.fleet.by_id),
            "backlog": sum(len(f.pending) for f in self.functions),
            "backend": self.backend.describe(),
        }


def _secret(ref: SecretRef) -> dict[str, Any]:
    return {"id": ref.id, "name": ref.name, "environment": ref.environment}


def _listed(given: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in given.items())
