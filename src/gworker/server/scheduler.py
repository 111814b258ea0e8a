"""Inputs, leases, retries and the autoscaler: the control plane's data path.

Containers pull: a container's poll either takes a lease of pending inputs at once or waits on
the server until inputs arrive (no sleep-and-poll anywhere). The store is written before any
acknowledgement; the in-memory queues are rebuilt from it after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from gworker_client._serialization import error_envelope

from .. import constants as C
from ..backends import Backend, CapacityError, ContainerSpec
from ..store import Store
from .app_logs import AppLogs
from .call_book import CallBook
from .errors import InvalidRequest, NotFound
from .scheduler_state import CallState, Container, FunctionState, Input

# Statuses a container reports that a retry policy may retry.
RETRYABLE = {"failure", "timeout", "died"}


class Scheduler:
    def __init__(self, store: Store, backend: Backend, server_url: str) -> None:
        self.store = store
        self.backend = backend
        self.server_url = server_url
        self.functions: dict[str, FunctionState] = {}
        self.containers: dict[str, Container] = {}
        self.container_tokens: dict[str, str] = {}
        self.calls = CallBook(store)
        self.app_heartbeats: dict[str, float] = {}
        self.logs = AppLogs(store, self._commit_soon)
        self.mean_start_s = 0.3
        self.starved: set[str] = set()  # functions waiting for backend capacity
        self._tick_task: asyncio.Task[None] | None = None
        self._commit_pending = False
        backend.bind(self)

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._reap_stale_containers()
        for row in self.store.functions(live_only=True):
            self._load_function(row)
        now = time.time()
        for iid, call_id, idx, fid, args, attempts, not_before in self.store.pending_inputs():
            fs = self._function_state(fid)
            inp = Input(iid, call_id, idx, fid, args, attempts)
            if not_before > now:
                asyncio.get_running_loop().call_later(not_before - now, self._requeue, fs, [inp])
            else:
                fs.pending.append(inp)
        for app in self.store.apps():
            if app["mode"] == "ephemeral" and app["state"] == "running":
                self.app_heartbeats[app["id"]] = time.monotonic()
        self.store.commit()
        for fs in list(self.functions.values()):
            self._autoscale(fs)
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_loop())

    async def close(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
        await self.backend.close()
        self.store.commit()

    def _reap_stale_containers(self) -> None:
        """Containers of a previous server process: kill any still alive; their inputs rerun."""
        for cid, pid in self.store.live_containers():
            if pid and _is_our_container(pid, cid):
                with contextlib.suppress(OSError):
                    import os
                    import signal

                    os.killpg(pid, signal.SIGKILL)
            self.store.set_container(cid, "stopped", exit_info="control plane restarted")

    def _load_function(self, row: dict[str, Any]) -> FunctionState:
        fs = FunctionState(
            id=row["id"],
            app_id=row["app_id"],
            tag=row["tag"],
            spec=row["spec"],
            module=row["module"],
            code_blob=row["code_blob"],
            live=bool(row["live"]),
            params=row.get("params"),
        )
        self.functions[fs.id] = fs
        return fs

    def _function_state(self, fid: str) -> FunctionState:
        fs = self.functions.get(fid)
        if fs is None:
            row = self.store.function(fid)
            if row is None:
                raise NotFound(f"function {fid} does not exist")
            fs = self._load_function(row)
        return fs

    def _commit_soon(self) -> None:
        """Commit within COMMIT_DELAY_S: writes nobody was promised (outputs, container
        states, logs) share one commit instead of paying one each (see CallBook.record)."""
        if not self._commit_pending:
            self._commit_pending = True
            asyncio.get_running_loop().call_later(C.COMMIT_DELAY_S, self._commit_now)

    def _commit_now(self) -> None:
        self._commit_pending = False
        self.store.commit()

    # -- apps and functions ----------------------------------------------------------------------

    def publish(
        self, app_id: str, module: str, code_blob: str, functions: list[dict[str, Any]]
    ) -> dict[str, str]:
        app = self.store.app(app_id)
        if app is None or app["state"] != "running":
            raise NotFound(f"app {app_id} is not running")
        version = self.store.bump_app_version(app_id)
        ids: dict[str, str] = {}
        for f in functions:
            fid = "fu-" + uuid.uuid4().hex[:20]
            self.store.add_function(fid, app_id, f["tag"], version, module, code_blob, f["spec"])
            ids[f["tag"]] = fid
        self.store.retire_functions(app_id, ids.values())
        self.store.commit()
        for fs in list(self.functions.values()):
            if fs.app_id == app_id and fs.id not in ids.values():
                fs.live = False
                self._drain(fs)
        for fid in ids.values():
            self._autoscale(self._function_state(fid))
        return ids

    def bind(self, fid: str, key: str, params: dict[str, Any]) -> str:
        """A class bound to one set of parameter values: its own function id and containers."""
        parent = self.store.function(fid)
        if parent is None:
            raise NotFound(f"function {fid} does not exist")
        if parent["spec"].get("kind") != "class" or parent["parent_id"]:
            raise InvalidRequest(f"{parent['tag']!r} is not a class with parameters")
        bound = self.store.bind_function(parent, key, params)
        self.store.commit()
        return bound

    def app_heartbeat(self, app_id: str) -> None:
        if app_id in self.app_heartbeats:
            self.app_heartbeats[app_id] = time.monotonic()

    def stop_app(self, app_id: str) -> None:
        self.store.stop_app(app_id)
        self.app_heartbeats.pop(app_id, None)
        for fs in [f for f in self.functions.values() if f.app_id == app_id]:
            fs.live = False
            message = f"app of {fs.tag!r} was stopped"
            self._fail_pending(fs, lambda _: True, "stopped", message)
            for c in list(fs.containers.values()):
                self._stop_container(c, kill_reason="stopped")
        self.store.commit()

    # -- calls -----------------------------------------------------------------------------------

    def submit(
        self,
        fid: str | None,
        call_id: str,
        items: list[tuple[int, bytes]],
        total: int | None,
        acknowledge: bool = True,
    ) -> CallState:
        """Store inputs and queue them.

        With ``acknowledge`` the inputs are committed before this returns. A caller that waits
        for the result of its one input instead (``.remote()``) is acknowledged by the result
        itself: its call stays in memory (see CallBook) and, if the server dies first, the
        client re-sends the same call id.
        """
        fresh_call = False
        if fid is not None:
            fs = self._function_state(fid)
            if not fs.live and self.store.live_function(fs.app_id, fs.tag) is None:
                raise NotFound(f"function {fs.tag!r} is not running (its app was stopped)")
            if not acknowledge and total == 1 and len(items) == 1:
                fresh_call = self.calls.add_awaited(call_id, fid, total)
            else:
                fresh_call = self.store.add_call(call_id, fid, total)
                if fresh_call:
                    self.calls.add(call_id, fid, total)
        cs = self.calls.get(call_id)
        fs = self._function_state(cs.function_id)
        self._check_gpu(fs)
        if cs.cancelled:
            raise InvalidRequest(f"function call {call_id} was cancelled")
        fresh = self.calls.new_inputs(call_id, fs.id, items, fresh_call)
        if total is not None and cs.total is None:
            cs.total = total
            self.store.set_call_total(call_id, total)
        if acknowledge:
            self.store.commit()
        else:
            self._commit_soon()
        args = dict(items)
        self._enqueue(fs, [Input(iid, call_id, idx, fs.id, args[idx]) for iid, idx in fresh])
        if cs.finished:
            cs.notify()
        return cs

    def _check_gpu(self, fs: FunctionState) -> None:
        request = fs.spec.get("gpu")
        if request and not self.backend.can_ever_place(request):
            asked = " or ".join(f"{g['type']}:{g['count']}" for g in request)
            raise InvalidRequest(
                f"{fs.tag!r} asks for gpu {asked}, which no device here can satisfy; this"
                f" {self.backend.name} backend has {self.backend.gpu_summary()}"
            )

    def cancel(self, call_id: str, terminate_containers: bool) -> None:
        cs = self.calls.get(call_id)
        cs.cancelled = True
        self.store.cancel_call(call_id)
        fs = self._function_state(cs.function_id)
        self._fail_pending(fs, lambda i: i.call_id == call_id, "cancelled", "input was cancelled")
        # inputs waiting out a retry delay are not in the queue: record them as cancelled too
        queued = {i.id for i in fs.pending}
        leased = {iid for c in fs.containers.values() for iid in c.leased}
        rows = [
            (iid, call_id, idx, "cancelled", error_envelope("cancelled", "input was cancelled"))
            for iid, idx in self.store.pending_input_ids(call_id)
            if iid not in queued and iid not in leased
        ]
        self.calls.record(rows)
        if terminate_containers:
            for c in list(fs.containers.values()):
                if any(i.call_id == call_id for i in c.leased.values()):
                    self._stop_container(c, kill_reason="cancelled")
        self.store.commit()

    def _fail_pending(
        self, fs: FunctionState, match: Callable[[Input], bool], status: str, message: str
    ) -> None:
        keep: deque[Input] = deque()
        failed: list[Input] = []
        for inp in fs.pending:
            (failed if match(inp) else keep).append(inp)
        fs.pending = keep
        envelope = error_envelope(status, message)
        self.calls.record([(i.id, i.call_id, i.idx, status, envelope) for i in failed])

    # -- the queue -------------------------------------------------------------------------------

    def _enqueue(self, fs: FunctionState, inputs: Iterable[Input], front: bool = False) -> None:
        if front:
            fs.pending.extendleft(reversed(list(inputs)))
        else:
            fs.pending.extend(inputs)
        self._dispatch(fs)
        self._autoscale(fs)

    def _requeue(self, fs: FunctionState, inputs: list[Input]) -> None:
        cancelled = {i.call_id for i in inputs if self.calls.is_cancelled(i.call_id)}
        self._enqueue(fs, [i for i in inputs if i.call_id not in cancelled])

    def _dispatch(self, fs: FunctionState) -> None:
        for c in fs.active():
            if not fs.pending:
                return
            if c.waiter is not None and not c.waiter.done() and c.accepting:
                c.waiter.set_result(self._lease(fs, c))

    def _lease(self, fs: FunctionState, c: Container) -> list[Input]:
        """Hand a container its share of the backlog, about LEASE_TARGET_S of work."""
        share = math.ceil(len(fs.pending) / max(1, len(fs.active())))
        if fs.max_inputs > 1:  # a concurrent container takes what it has free slots for
            cap = c.slots
        elif fs.mean_run_s is None:
            cap = 1
        else:
            cap = int(C.LEASE_TARGET_S / max(fs.mean_run_s, 1e-6))
        n = max(1, min(share, cap, C.LEASE_MAX_INPUTS))
        batch = [fs.pending.popleft() for _ in range(min(n, len(fs.pending)))]
        now = time.monotonic()
        for inp in batch:
            c.leased[inp.id] = inp
        c.lease_started = now
        return batch

    # -- containers ------------------------------------------------------------------------------

    def container_by_token(self, token: str) -> str | None:
        return self.container_tokens.get(token)

    def container(self, cid: str) -> Container:
        c = self.containers.get(cid)
        if c is None:
            raise NotFound(f"container {cid} is not known to this control plane")
        return c

    def container_spec(self, cid: str) -> dict[str, Any]:
        from .secrets import container_env

        c = self.container(cid)
        fs = c.function
        return {
            "container_id": cid,
            "app_id": fs.app_id,
            "function_id": fs.id,
            "tag": fs.tag,
            "module": fs.module,
            "code_blob": fs.code_blob,
            "spec": fs.spec,
            "params": fs.params or {},
            "functions": self.store.app_functions(fs.app_id),
            # the function's secrets, decrypted: set before the app's module is imported
            "env": container_env(self.store, fs.spec.get("secrets") or []),
            # [{mount_path, volume_id, name}]: the runtime fills each from the control plane
            "mounts": fs.spec.get("volumes") or [],
        }

    def container_failed(self, cid: str, traceback: str) -> None:
        self.container(cid).failure = traceback

    def heartbeat(self, cid: str) -> bool:
        """Record contact; return whether the container should stop."""
        c = self.container(cid)
        c.last_contact = time.monotonic()
        return c.stopping

    async def poll(
        self, cid: str, outputs: list[list[Any]], slots: int, timeout: float
    ) -> list[Input] | None:
        """Take a container's outputs; give it its next lease, or None when it should stop."""
        c = self.container(cid)
        fs = c.function
        now = time.monotonic()
        c.last_contact = now
        if not c.ready:
            c.ready = True
            fs.start_failures = 0
            self.mean_start_s = 0.8 * self.mean_start_s + 0.2 * (now - c.started_at)
        if outputs:
            self._complete(c, outputs)
        if slots <= 0:
            return []
        c.slots = slots
        if c.leased and fs.max_inputs == 1:
            # a lease the container never received (its response was lost): rerun it
            lost, c.leased = list(c.leased.values()), {}
            self._enqueue(fs, lost, front=True)
        if c.stopping or (not fs.live and not fs.pending and not c.leased):
            c.stopping = True
            return None
        if fs.pending and c.accepting:
            return self._lease(fs, c)
        c.idle_since = now
        waiter: asyncio.Future[list[Input] | None] = asyncio.get_running_loop().create_future()
        c.waiter = waiter
        self._autoscale(fs)  # this container is idle: maybe one fewer is needed
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            c.waiter = None
            if not waiter.done():
                waiter.cancel()
        if waiter.cancelled():
            return []
        c.last_contact = time.monotonic()
        return waiter.result()

    def _complete(self, c: Container, outputs: list[list[Any]]) -> None:
        fs = c.function
        rows = []
        for input_id, status, data, duration in outputs:
            inp = c.leased.pop(input_id, None)
            if inp is None:
                continue
            fs.mean_run_s = (
                duration if fs.mean_run_s is None else 0.8 * fs.mean_run_s + 0.2 * duration
            )
            if status in RETRYABLE and self._retry(fs, inp):
                continue
            rows.append((inp.id, inp.call_id, inp.idx, status, data))
        self.calls.record(rows)
        self._commit_soon()
        if not c.leased:
            c.idle_since = time.monotonic()

    def _retry(self, fs: FunctionState, inp: Input) -> bool:
        policy = fs.spec.get("retries")
        cancelled = self.calls.is_cancelled(inp.call_id)
        if not policy or inp.attempts >= policy["max_retries"] or cancelled:
            return False
        inp.attempts += 1
        delay = min(
            policy["initial_delay"] * policy["backoff_coefficient"] ** (inp.attempts - 1),
            policy["max_delay"],
        )
        self.store.set_attempts(inp.id, inp.attempts, time.time() + delay)
        asyncio.get_running_loop().call_later(delay, self._requeue, fs, [inp])
        return True

    def probe_result(
        self, cid: str, method: str, kind: str, ok: bool, detail: str, duration: float
    ) -> None:
        """Record a probe; act on ``failures`` in a row: replace (liveness) or hold back
        new inputs (readiness)."""
        c = self.container(cid)
        fs = c.function
        c.last_contact = time.monotonic()
        self.store.add_probe((cid, fs.id, fs.app_id, method, kind, ok, detail[:2000], duration))
        self._commit_soon()
        probe = next((p for p in fs.spec.get("probes", []) if p["method"] == method), None)
        if probe is None:
            return
        failures = 0 if ok else c.probe_failures.get(method, 0) + 1
        c.probe_failures[method] = failures
        if kind == "readiness":
            was = c.accepting
            c.accepting = failures < probe["failures"] and (ok or was)
            if c.accepting and not was:
                self._dispatch(fs)
        elif failures >= probe["failures"] and not c.stopping:
            self._stop_container(c, kill_reason="replaced", force=True)
            self._autoscale(fs)

    def readiness_gate(self, c: Container) -> None:
        """A container whose class has a readiness probe takes no input before it passes."""
        if any(p["kind"] == "readiness" for p in c.function.spec.get("probes", [])):
            c.accepting = False

    def container_log(self, cid: str, stream: str, text: str) -> None:
        c = self.containers.get(cid)
        if c is not None:
            self.logs.append(c.function.app_id, stream, text, cid)

    def container_exited(self, cid: str, info: str) -> None:
        c = self.containers.pop(cid, None)
        if c is None:
            return
        fs = c.function
        fs.containers.pop(cid, None)
        self.container_tokens.pop(c.token, None)
        if c.waiter is not None and not c.waiter.done():
            c.waiter.cancel()
        if c.leased:
            self._orphaned(c, info)
        if not c.ready and c.kill_reason is None:
            self._start_failed(fs, c, info)
        self.store.set_container(cid, "stopped", exit_info=c.failure or info)
        self.store.commit()
        self._autoscale(fs)
        for fid in list(self.starved):  # the freed capacity may let another function start
            if fid in self.functions:
                self._autoscale(self.functions[fid])

    def _orphaned(self, c: Container, info: str) -> None:
        """The container exited holding a lease: its first ``max_inputs`` inputs were running
        (a container starts its inputs in lease order), the rest had not started."""
        fs = c.function
        leased = list(c.leased.values())
        running, rest = leased[: fs.max_inputs], leased[fs.max_inputs :]
        c.leased = {}
        status = c.kill_reason or "died"
        messages = {
            "died": (
                f"{fs.tag!r} ran {info} and its container was killed; raise memory= in its"
                " decorator"
                if info.startswith("out of memory")
                else f"the container running {fs.tag!r} exited unexpectedly ({info})"
            ),
            "timeout": f"{fs.tag!r} timed out after {fs.spec['timeout']}s",
            "stopped": f"app of {fs.tag!r} was stopped",
            "cancelled": "input was cancelled",
        }
        if status in ("stopped", "cancelled"):
            envelope = error_envelope(status, messages[status])
            self.calls.record([(i.id, i.call_id, i.idx, status, envelope) for i in leased])
            return
        if status == "replaced":  # the platform replaced it: rerun, a bounded number of times
            self._replaced(fs, running)
        else:
            envelope = error_envelope(status, messages[status])
            failed = [i for i in running if not self._retry(fs, i)]
            self.calls.record([(i.id, i.call_id, i.idx, status, envelope) for i in failed])
        self._enqueue(fs, rest, front=True)

    def _replaced(self, fs: FunctionState, running: list[Input]) -> None:
        message = (
            f"{fs.tag!r}: its container failed its liveness probe and was replaced"
            f" {C.MAX_REPLACEMENTS} times while running this input"
        )
        rerun, rows = [], []
        for i in running:
            i.replacements += 1
            if i.replacements < C.MAX_REPLACEMENTS:
                rerun.append(i)
            else:
                rows.append((i.id, i.call_id, i.idx, "died", error_envelope("died", message)))
        self.calls.record(rows)
        self._enqueue(fs, rerun, front=True)

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
        self._fail_pending(fs, lambda _: True, "internal", message)

    def _start_container(self, fs: FunctionState) -> None:
        from ..backends.base import Mount

        cid = "ct-" + uuid.uuid4().hex[:20]
        token = secrets.token_urlsafe(24)
        c = Container(cid, fs, token)
        self.readiness_gate(c)
        fs.containers[cid] = c
        self.containers[cid] = c
        self.container_tokens[token] = cid
        self.store.add_container(cid, fs.id, fs.app_id)
        self._commit_soon()
        spec = ContainerSpec(
            container_id=cid,
            function_id=fs.id,
            app_id=fs.app_id,
            env={
                "GW_SERVER_URL": self.server_url,
                "GW_CONTAINER_ID": cid,
                "GW_TOKEN_ID": cid,
                "GW_TOKEN_SECRET": token,
            },
            cpu=fs.spec["cpu"],
            memory_mib=fs.spec["memory"],
            gpu=fs.spec.get("gpu"),
            image=fs.spec.get("image"),
            cpu_limit=fs.spec.get("cpu_limit"),
            memory_limit_mib=fs.spec.get("memory_limit"),
            mounts=[
                Mount(v["mount_path"], volume_id=v["volume_id"])
                for v in fs.spec.get("volumes") or []
            ],
        )
        asyncio.get_running_loop().create_task(self._launch(c, spec))

    async def _launch(self, c: Container, spec: ContainerSpec) -> None:
        try:
            placed = await self.backend.start(spec)
        except CapacityError:  # another start took the room first: retry when some frees up
            self._forget(c, "no capacity")
            self.starved.add(c.function.id)
            return
        except Exception as e:
            c.failure = f"the backend could not start the container: {e}"
            self.containers[c.id] = c
            self.container_exited(c.id, "not started")
            return
        c.gpu = placed.gpu
        self.store.set_container(c.id, "running", pid=placed.pid)
        self._commit_soon()

    def _forget(self, c: Container, info: str) -> None:
        self.containers.pop(c.id, None)
        c.function.containers.pop(c.id, None)
        self.container_tokens.pop(c.token, None)
        self.store.set_container(c.id, "stopped", exit_info=info)
        self._commit_soon()

    def _stop_container(
        self, c: Container, kill_reason: str | None = None, force: bool = False
    ) -> None:
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

    def _drain(self, fs: FunctionState) -> None:
        for c in list(fs.containers.values()):
            if not c.leased and not fs.pending:
                self._stop_container(c)

    # -- autoscaling -----------------------------------------------------------------------------

    def _autoscale(self, fs: FunctionState) -> None:
        active = fs.active()
        inflight = sum(len(c.leased) for c in active)
        load = len(fs.pending) + inflight
        spec = fs.spec
        desired = min(math.ceil(load / fs.target_inputs), self._worth_starting(fs, load))
        if load and fs.live:
            desired += spec["buffer_workers"]
        if fs.live:
            desired = max(desired, spec["min_workers"])
        desired = min(desired, spec["max_workers"])
        for _ in range(desired - len(active)):
            if not self.backend.has_room(spec["cpu"], spec["memory"], spec.get("gpu")):
                self.starved.add(fs.id)
                self._reclaim_idle(exclude=fs)
                return
            self._start_container(fs)
        self.starved.discard(fs.id)

    def _reclaim_idle(self, exclude: FunctionState) -> None:
        """Stop one idle container of another function (above its floor) to make room."""
        for fs in self.functions.values():
            if fs is exclude:
                continue
            floor = fs.spec["min_workers"] if fs.live else 0
            idle = [c for c in fs.active() if not c.leased and c.waiter is not None]
            if idle and len(fs.active()) > floor:
                self._stop_container(min(idle, key=lambda c: c.idle_since))
                return

    def _worth_starting(self, fs: FunctionState, load: int) -> int:
        """How many containers the backlog justifies: a new container must have more work to do
        than its own start-up costs, else the running ones finish sooner without it."""
        now = time.monotonic()
        running = [now - c.lease_started for c in fs.containers.values() if c.leased]
        per_input = max([fs.mean_run_s or 0.0, *running])
        if per_input <= 0:
            return 1
        work = load * per_input / fs.target_inputs
        return max(1, math.ceil(work / max(self.mean_start_s, 0.05)))

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(C.TICK_S)
            try:
                self._tick()
            except Exception:  # the control loop must survive any one bad state
                import logging

                logging.getLogger("gworker").exception("scheduler tick failed")

    def _tick(self) -> None:
        now = time.monotonic()
        for app_id, seen in list(self.app_heartbeats.items()):
            if now - seen > C.EPHEMERAL_APP_SILENCE_S:
                self.stop_app(app_id)
        for fs in list(self.functions.values()):
            floor = fs.spec["min_workers"] if fs.live else 0
            idle = [c for c in fs.active() if not c.leased and c.waiter is not None]
            excess = len(fs.active()) - max(floor, 1 if fs.pending else 0)
            for c in sorted(idle, key=lambda c: c.idle_since):
                if excess <= 0:
                    break
                if not fs.live or now - c.idle_since > fs.spec["idle_timeout"]:
                    self._stop_container(c)
                    excess -= 1
            for c in fs.active():
                if not c.leased:
                    continue
                if now - c.lease_started > fs.spec["timeout"] + C.TIMEOUT_GRACE_S:
                    self._stop_container(c, kill_reason="timeout", force=True)
                elif now - c.last_contact > C.CONTAINER_SILENCE_S:
                    self._stop_container(c, kill_reason="died", force=True)
            self._autoscale(fs)
            if not fs.live and not fs.containers and not fs.pending:
                del self.functions[fs.id]
        self.calls.forget_finished()

    def containers_of(self, app_id: str) -> list[dict[str, Any]]:
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
                "age_s": now - c.started_at,
            }
            for c in self.containers.values()
            if c.function.app_id == app_id
        ]

    def stats(self, fid: str) -> dict[str, int]:
        fs = self._function_state(fid)
        return {"backlog": len(fs.pending), "num_total_runners": len(fs.active())}

    def describe(self) -> dict[str, Any]:
        return {
            "functions": len(self.functions),
            "containers": len(self.containers),
            "backlog": sum(len(f.pending) for f in self.functions.values()),
            "backend": self.backend.describe(),
        }


def _is_our_container(pid: int, cid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return cid.encode() in f.read()
    except OSError:
        return False
