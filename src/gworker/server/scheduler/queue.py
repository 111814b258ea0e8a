"""Input queueing and leases: submit, lease, complete, retry, cancel.

Containers pull: a container's poll either takes a lease of pending inputs at once or waits on
the server until inputs arrive (no sleep-and-poll anywhere). The store is written before any
acknowledgement; the in-memory queues are rebuilt from it after a restart.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import deque
from collections.abc import Callable, Iterable

from gworker_client._protocol import ContainerOutput, OutputStatus, error_envelope

from ... import constants as C
from ...store import Store
from ..call_book import CallBook
from ..errors import InvalidRequest, NotFound, TooLarge
from .functions import FunctionTable
from .state import CallState, Container, FunctionState, Input

Scale = Callable[[FunctionState], None]
StopContainer = Callable[[Container, str], None]
Completed = Callable[[FunctionState, str, Input, ContainerOutput], None]  # (fn, container, ...)


class InputQueue:
    """Per-function pending inputs and the leases containers hold."""

    def __init__(
        self,
        store: Store,
        functions: FunctionTable,
        calls: CallBook,
        scale: Scale,
        stop_container: StopContainer,
        commit_soon: Callable[[], None],
    ) -> None:
        self.store = store
        self.functions = functions
        self.calls = calls
        self._scale = scale
        self._stop_container = stop_container
        self._commit_soon = commit_soon
        # told of every output a container reports (the dashboard's and advice's call stats)
        self.completed_hooks: list[Completed] = []

    # -- submit and cancel -----------------------------------------------------------------------

    def submit(
        self,
        fid: str | None,
        call_id: str,
        items: list[tuple[int, bytes]],
        total: int | None,
        acknowledge: bool = True,
        objects: list[str] | None = None,
    ) -> CallState:
        """Store inputs and queue them.

        With ``acknowledge`` the inputs are committed before this returns. A caller that waits
        for the result of its one input instead (``.remote()``) is acknowledged by the result
        itself: its call stays in memory (see CallBook) and, if the server dies first, the
        client re-sends the same call id.
        """
        fresh_call = False
        if fid is not None:
            fs = self.functions.get(fid)
            self._check_room(fs, len(items))
            if not fs.live and self.store.live_function(fs.app_id, fs.tag) is None:
                raise NotFound(f"function {fs.tag!r} is not running (its app was stopped)")
            if not acknowledge and total == 1 and len(items) == 1:
                fresh_call = self.calls.add_awaited(call_id, fid, total)
            else:
                fresh_call = self.store.add_call(call_id, fid, total)
                if fresh_call:
                    self.calls.add(call_id, fid, total)
        cs = self.calls.get(call_id)
        fs = self.functions.get(cs.function_id)
        if fid is None:
            self._check_room(fs, len(items))
        if cs.cancelled:
            raise InvalidRequest(f"function call {call_id} was cancelled")
        if objects:
            self.calls.add_objects(call_id, objects)
        fresh = self.calls.new_inputs(call_id, fs.id, items, fresh_call)
        if total is not None and cs.total is None:
            cs.total = total
            self.store.set_call_total(call_id, total)
        if acknowledge:
            self.store.commit()
        else:
            self._commit_soon()
        args = dict(items)
        self.enqueue(fs, [Input(iid, call_id, idx, fs.id, args[idx]) for iid, idx in fresh])
        if cs.finished:
            cs.notify()
        return cs

    def _check_room(self, fs: FunctionState, adding: int) -> None:
        """Refuse inputs past the function's limit of pending ones, before storing any."""
        if len(fs.pending) + adding > C.MAX_PENDING_INPUTS:
            raise TooLarge(
                f"{fs.tag!r} has {len(fs.pending)} inputs waiting and takes at most"
                f" {C.MAX_PENDING_INPUTS} (GW_MAX_PENDING_INPUTS on the server): wait for some"
                " to finish, or send fewer at once"
            )

    def cancel(self, call_id: str, terminate_containers: bool) -> None:
        cs = self.calls.get(call_id)
        cs.cancelled = True
        self.store.cancel_call(call_id)
        fs = self.functions.get(cs.function_id)
        cancelled = OutputStatus.CANCELLED
        self.fail_pending(fs, lambda i: i.call_id == call_id, cancelled, "input was cancelled")
        # inputs waiting out a retry delay are not in the queue: record them as cancelled too
        queued = {i.id for i in fs.pending}
        leased = {iid for c in fs.containers.values() for iid in c.leased}
        envelope = error_envelope(cancelled.value, "input was cancelled")
        rows = [
            (iid, call_id, idx, cancelled.value, envelope)
            for iid, idx in self.store.pending_input_ids(call_id)
            if iid not in queued and iid not in leased
        ]
        self.calls.record(rows)
        if terminate_containers:
            for c in list(fs.containers.values()):
                if any(i.call_id == call_id for i in c.leased.values()):
                    self._stop_container(c, cancelled.value)
        self.store.commit()

    def fail_pending(
        self,
        fs: FunctionState,
        match: Callable[[Input], bool],
        status: OutputStatus,
        message: str,
    ) -> None:
        keep: deque[Input] = deque()
        failed: list[Input] = []
        for inp in fs.pending:
            (failed if match(inp) else keep).append(inp)
        fs.pending = keep
        self.fail(failed, status, message)

    def fail(self, inputs: list[Input], status: OutputStatus, message: str) -> None:
        envelope = error_envelope(status.value, message)
        self.calls.record([(i.id, i.call_id, i.idx, status.value, envelope) for i in inputs])

    # -- the queue -------------------------------------------------------------------------------

    def enqueue(self, fs: FunctionState, inputs: Iterable[Input], front: bool = False) -> None:
        if front:
            fs.pending.extendleft(reversed(list(inputs)))
        else:
            fs.pending.extend(inputs)
        self.dispatch(fs)
        self._scale(fs)

    def requeue(self, fs: FunctionState, inputs: list[Input]) -> None:
        """Queue retried inputs again in their own places: input ids follow submission order,
        so a retry goes ahead of everything submitted after it and an ordered ``map`` never
        waits behind the backlog for it."""
        cancelled = {i.call_id for i in inputs if self.calls.is_cancelled(i.call_id)}
        for inp in inputs:
            if inp.call_id not in cancelled:
                bisect.insort(fs.pending, inp, key=_input_order)
        self.dispatch(fs)
        self._scale(fs)

    def dispatch(self, fs: FunctionState) -> None:
        """Hand pending inputs to containers waiting in a poll."""
        for c in fs.active():
            if not fs.pending:
                return
            if c.waiter is not None and not c.waiter.done() and c.accepting:
                c.waiter.set_result(self.lease(fs, c))

    def lease(self, fs: FunctionState, c: Container) -> list[Input]:
        """Hand a container its share of the backlog, about LEASE_TARGET_S of work."""
        share = math.ceil(len(fs.pending) / max(1, len(fs.active())))
        if fs.max_inputs > 1:  # a concurrent container takes what it has free slots for
            cap = c.slots
        elif fs.mean_run_s is None:
            cap = 1
        else:
            cap = int(C.LEASE_TARGET_S / max(fs.mean_run_s, 1e-6))
        n = max(1, min(share, cap, C.LEASE_MAX_INPUTS))
        retire_after = fs.spec.retire_after
        if retire_after is not None:  # never past the inputs it may run in its life
            n = min(n, retire_after - c.inputs_taken)
        batch = [fs.pending.popleft() for _ in range(min(n, len(fs.pending)))]
        for inp in batch:
            c.leased[inp.id] = inp
        c.inputs_taken += len(batch)
        if retire_after is not None and c.inputs_taken >= retire_after:
            c.retiring = True
            self._scale(fs)  # the rest of the backlog needs another container
        c.lease_started = time.monotonic()
        return batch

    async def poll(
        self, c: Container, outputs: list[ContainerOutput], slots: int, timeout: float
    ) -> list[Input] | None:
        """Take a container's outputs; give it its next lease, or None when it should stop."""
        fs = c.function
        if outputs:
            self.complete(c, outputs)
        if slots <= 0:
            return []
        c.slots = slots
        if c.leased and fs.max_inputs == 1:
            # a lease the container never received (its response was lost): rerun it
            lost, c.leased = list(c.leased.values()), {}
            c.inputs_taken -= len(lost)
            c.retiring = False
            self.enqueue(fs, lost, front=True)
        if c.retiring:  # its last lease is done, or running (a concurrent one): take no more
            c.stopping = True
            return None
        if c.stopping or (not fs.live and not fs.pending and not c.leased):
            c.stopping = True
            return None
        if fs.pending and c.accepting:
            return self.lease(fs, c)
        c.idle_since = time.monotonic()
        waiter: asyncio.Future[list[Input] | None] = asyncio.get_running_loop().create_future()
        c.waiter = waiter
        self._scale(fs)  # this container is idle: maybe one fewer is needed
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

    # -- completion and retries ------------------------------------------------------------------

    def complete(self, c: Container, outputs: list[ContainerOutput]) -> None:
        fs = c.function
        rows = []
        for out in outputs:
            inp = c.leased.pop(out.input_id, None)
            if inp is None:
                continue
            for hook in self.completed_hooks:
                hook(fs, c.id, inp, out)
            d = out.duration
            fs.mean_run_s = d if fs.mean_run_s is None else 0.8 * fs.mean_run_s + 0.2 * d
            if out.status.retryable and self.retry(fs, inp):
                continue
            rows.append((inp.id, inp.call_id, inp.idx, out.status.value, out.data))
        self.calls.record(rows)
        self._commit_soon()
        if not c.leased:
            c.idle_since = time.monotonic()

    def retry(self, fs: FunctionState, inp: Input) -> bool:
        """Queue a failed input again after its policy's delay; False when it has no retry left."""
        policy = fs.spec.retries
        cancelled = self.calls.is_cancelled(inp.call_id)
        if policy is None or inp.attempts >= policy.max_retries or cancelled:
            return False
        inp.attempts += 1
        delay = policy.delay(inp.attempts)
        self.store.set_attempts(inp.id, inp.attempts, time.time() + delay)
        self.requeue_later(fs, inp, delay)
        return True

    def requeue_later(self, fs: FunctionState, inp: Input, delay: float) -> None:
        """Queue ``inp`` again after ``delay``; until then it counts as its app's work."""
        fs.retrying.add(inp.id)

        def due() -> None:
            fs.retrying.discard(inp.id)
            self.requeue(fs, [inp])

        asyncio.get_running_loop().call_later(delay, due)

    def orphaned(self, c: Container, info: str) -> None:
        """The container exited holding a lease: its first ``max_inputs`` inputs were running
        (a container starts its inputs in lease order), the rest had not started."""
        fs = c.function
        leased = list(c.leased.values())
        running, rest = leased[: fs.max_inputs], leased[fs.max_inputs :]
        c.leased = {}
        reason = c.kill_reason or "died"
        if reason in ("stopped", "cancelled"):
            stopped = f"app of {fs.tag!r} was stopped"
            message = stopped if reason == "stopped" else "input was cancelled"
            self.fail(leased, OutputStatus(reason), message)
            return
        if reason == "replaced":  # the platform replaced it: rerun, a bounded number of times
            self._replaced(fs, running)
        else:
            status = OutputStatus(reason)
            if status is OutputStatus.TIMEOUT:
                message = f"{fs.tag!r} timed out after {fs.spec.timeout}s"
            elif info.startswith("out of memory"):
                message = (
                    f"{fs.tag!r} ran {info} and its container was killed; raise memory= in its"
                    " decorator"
                )
            else:
                message = f"the container running {fs.tag!r} exited unexpectedly ({info})"
            self.fail([i for i in running if not self.retry(fs, i)], status, message)
        self.enqueue(fs, rest, front=True)

    def _replaced(self, fs: FunctionState, running: list[Input]) -> None:
        message = (
            f"{fs.tag!r}: its container failed its liveness probe and was replaced"
            f" {C.MAX_REPLACEMENTS} times while running this input"
        )
        rerun: list[Input] = []
        failed: list[Input] = []
        for i in running:
            i.replacements += 1
            (rerun if i.replacements < C.MAX_REPLACEMENTS else failed).append(i)
        self.fail(failed, OutputStatus.DIED, message)
        self.enqueue(fs, rerun, front=True)


def _input_order(inp: Input) -> int:
    return inp.id
