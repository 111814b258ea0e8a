"""Function calls: their state, their outputs, and the callers waiting for them.

An output is written to the store once, and its waiting caller is answered from memory: the
book keeps each call's recent outputs (those its callers have not confirmed seeing) so that
``wait`` never reads back what was just written. The store stays the source of truth: a caller
whose cursor is older than what memory holds, or a call loaded after a restart, reads from it.

An awaited call (``.remote()``: one input, its caller waiting on the request that made it) is
acknowledged by nothing but its result, so it lives in memory only until it is answered: no
call, input or output row is written, and a 1 MiB argument never passes through SQLite. If the
server dies first, the caller's client re-sends the same request (same call id) to the restarted
server, which runs it afresh. If the wait ends before the result, the caller is told the call
exists and may later ask by id: the call is then stored and committed before that answer
(``persist``), like any acknowledged call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from gworker_client._protocol.limits import blob_digest

from .. import constants as C
from ..store import Store
from ..store.payloads import Hold
from . import payloads
from .call_state import CallState
from .draining import DRAINING
from .errors import Gone, NotFound

OutputRow = tuple[int, str, int, str, bytes]  # (input id, call id, index, status, data)
WireRow = tuple[int, int, str, bytes]  # (seq, index, status, data): what a caller receives

# Most rows one answer carries (the store's page size for the same question).
MAX_ROWS = 1000
# A call whose unconfirmed outputs pass this size is answered from the store from then on,
# so a large map nobody collects cannot hold the server's memory.
RECENT_MAX_BYTES = 64 * 1024 * 1024
# A finished awaited call whose result was not handed out (its caller's connection broke) is
# kept this long for the caller's re-sent request.
AWAITED_KEEP_S = 30.0


@dataclass
class Recent:
    """A call's outputs with ``seq > after``, all of them, in seq order."""

    after: int
    rows: list[WireRow] = field(default_factory=list)
    nbytes: int = 0

    def add(self, row: WireRow) -> None:
        self.rows.append(row)
        self.nbytes += len(row[3])
        if self.nbytes > RECENT_MAX_BYTES:
            self.after, self.rows, self.nbytes = row[0], [], 0

    def confirm(self, after: int) -> None:
        """A caller asks for outputs past ``after``: it has those before; let them go."""
        if after <= self.after:
            return
        keep = 0
        while keep < len(self.rows) and self.rows[keep][0] <= after:
            self.nbytes -= len(self.rows[keep][3])
            keep += 1
        del self.rows[:keep]
        self.after = after


@dataclass
class Awaited:
    """An awaited call's input while only memory holds it."""

    input_id: int  # 0 until its input is taken
    idx: int
    args: bytes
    finished_at: float | None = None
    delivered: bool = False
    started_at: float = field(default_factory=time.monotonic)


class CallBook:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: dict[str, CallState] = {}
        self.recent: dict[str, Recent] = {}
        self.awaited: dict[str, Awaited] = {}
        # (call id, index) of stored pending inputs whose arguments hold a blob (payloads.py)
        self.blob_args: set[tuple[str, int]] = set(store.held_args())
        self._peak = 0  # the most calls held at once since the dicts were last rebuilt

    def get(self, call_id: str) -> CallState:
        """A call's state, loaded from the store when not in memory."""
        cs = self.calls.get(call_id)
        if cs is None:
            row = self.store.call(call_id)
            if row is None:
                if self.store.call_expired_at(call_id) is not None:
                    raise Gone(
                        f"function call {call_id} expired: a finished call is kept"
                        f" {C.OUTPUT_KEEP_S:g}s (GW_OUTPUT_KEEP_S) after its last output"
                    )
                raise NotFound(f"function call {call_id} does not exist")
            done = self.store.output_count(call_id)
            cs = CallState(call_id, row["function_id"], row["total"], done, row["cancelled"])
            cs.objects = self.store.call_objects(call_id)
            self.calls[call_id] = cs
            self.recent[call_id] = Recent(self.store.max_output_seq(call_id))
        return cs

    def add(self, call_id: str, fid: str, total: int | None) -> None:
        self.calls[call_id] = CallState(call_id, fid, total, 0)
        self.recent[call_id] = Recent(0)  # a new call: every output it gets passes through here

    def add_awaited(self, call_id: str, fid: str, total: int | None) -> bool:
        """Start an awaited call in memory; False if the call is known already (a request
        re-sent after a lost answer joins it)."""
        if call_id in self.calls or self.store.call(call_id) is not None:
            return False
        self.add(call_id, fid, total)
        self.awaited[call_id] = Awaited(0, 0, b"")
        return True

    def new_inputs(
        self, call_id: str, fid: str, items: list[tuple[int, bytes]], fresh_call: bool
    ) -> list[tuple[int, int]]:
        """Take a call's inputs; return ``(input_id, idx)`` of those not taken before."""
        aw = self.awaited.get(call_id)
        if aw is None:
            fresh = self.store.add_inputs(call_id, fid, items, fresh_call)
            holds = payloads.input_holds(call_id, items)
            if holds:
                taken = {idx for _, idx in fresh}
                self._hold_args([h for h in holds if h[1] in taken])
            return fresh
        if not fresh_call:  # an awaited call's one input came with the request that made it
            return []
        ((idx, args),) = items
        aw.input_id, aw.idx, aw.args = self.store.reserve_input_ids(1), idx, args
        return [(aw.input_id, idx)]

    def add_objects(self, call_id: str, objects: list[str]) -> None:
        """Named objects pickled into a call's inputs (stored with a stored call)."""
        cs = self.calls[call_id]
        new = set(objects) - cs.objects
        cs.objects |= new
        if new and call_id not in self.awaited:
            self.store.add_call_objects(call_id, sorted(new))

    def objects_of(self, call_id: str) -> set[str]:
        cs = self.calls.get(call_id)
        return cs.objects if cs is not None else set()

    def persist(self, call_id: str) -> None:
        """Store an awaited call that has no result yet, so that it survives a restart: its
        caller is about to be told it exists. The caller commits."""
        aw = self.awaited.pop(call_id, None)
        if aw is None:
            return
        cs = self.calls[call_id]
        self.store.add_call(call_id, cs.function_id, cs.total)
        if cs.objects:
            self.store.add_call_objects(call_id, sorted(cs.objects))
        if not cs.done:
            self.store.add_inputs_with_ids(
                call_id, cs.function_id, [(aw.input_id, aw.idx, aw.args)]
            )
            self._hold_args(payloads.input_holds(call_id, [(aw.idx, aw.args)]))

    def _hold_args(self, holds: list[Hold]) -> None:
        """Stored inputs' arguments hold their blobs until the input has an output."""
        self.store.hold_payloads(holds)
        self.blob_args.update((call_id, idx) for call_id, idx, _, _, _ in holds)

    def live_payloads(self) -> set[str]:
        """The blobs that inputs held only in memory (awaited calls') refer to."""
        return {d for aw in self.awaited.values() if (d := blob_digest(aw.args)) is not None}

    def handed_out(self, call_id: str, rows: list[WireRow]) -> bool:
        """A caller was handed these outputs: their results' blobs are no longer held (they
        are deleted after their grace, time enough to fetch them). True if any was."""
        held = [(idx, d) for _, idx, _, data in rows if (d := blob_digest(data)) is not None]
        if held:
            now = time.time()
            self.store.release_payloads([(call_id, idx, "result") for idx, _ in held], now)
            self.store.touch_payloads([d for _, d in held], now)
        return bool(held)

    def is_cancelled(self, call_id: str) -> bool:
        cs = self.calls.get(call_id)
        return cs.cancelled if cs else False

    def record(self, rows: list[OutputRow]) -> None:
        """Store outputs, keep them for their callers and wake whoever waits on their calls.

        The store's write is not committed here: the scheduler commits shortly after. An
        output answered to a caller and then lost to a server kill leaves its input pending in
        the store, so it runs again after the restart (at least once, as with any crash between
        running an input and recording it); a ``.remote()`` caller that lost its answer re-sends
        its call id and waits for that rerun.
        """
        if not rows:
            return
        touched: set[str] = set()
        stored = [r for r in rows if r[1] not in self.awaited]
        kept = [] if len(stored) == len(rows) else [r for r in rows if r[1] in self.awaited]
        for r in kept:
            aw = self.awaited[r[1]]
            aw.finished_at, aw.args = time.monotonic(), b""  # the arguments are not needed now
        done = [(self.store.take_output_seq(), *r[1:]) for r in kept]
        added = self.store.add_outputs(stored)
        self._move_holds(stored, added)
        for seq, call_id, idx, status, data in done + added:
            recent = self.recent.get(call_id)
            if recent is not None:
                recent.add((seq, idx, status, data))
            cs = self.calls.get(call_id)
            if cs is not None:
                cs.done += 1
                touched.add(call_id)
        for call_id in touched:
            self.calls[call_id].notify()

    def _move_holds(self, stored: list[OutputRow], added: list[OutputRow]) -> None:
        """Inputs with outputs let go of their arguments' blobs; results hold theirs."""
        done = [(r[1], r[2]) for r in stored if (r[1], r[2]) in self.blob_args]
        if done:
            self.blob_args.difference_update(done)
            self.store.release_payloads([(c, i, "args") for c, i in done], time.time())
        holds = payloads.output_holds(added, time.time())
        if holds:
            self.store.hold_payloads(holds)

    def _rows(self, call_id: str, after: int) -> list[WireRow]:
        recent = self.recent.get(call_id)
        if recent is None or after < recent.after:
            return self.store.outputs_after(call_id, after, MAX_ROWS)
        recent.confirm(after)
        return recent.rows[:MAX_ROWS]

    async def wait(
        self, call_id: str, after: int, timeout: float
    ) -> tuple[list[WireRow], int | None]:
        """Outputs after the cursor ``after``, waiting up to ``timeout`` for the first."""
        cs = self.get(call_id)
        rows = self._rows(call_id, after) if cs.done else []
        deadline = time.monotonic() + timeout
        while not rows and not cs.finished and (left := deadline - time.monotonic()) > 0:
            if DRAINING.stopping:
                break
            changed = cs.changed
            with contextlib.suppress(asyncio.TimeoutError):
                await DRAINING.wait_for(changed.wait(), left)
            rows = self._rows(call_id, after)
        aw = self.awaited.get(call_id)
        if aw is not None and rows and cs.finished:
            aw.delivered = True
        return rows, cs.total

    def forget_finished(self) -> None:
        """Finished calls are reloaded from the store if asked for again; a finished awaited
        call goes once its result was handed out (or its caller had time to ask again)."""
        now = time.monotonic()
        self._peak = max(self._peak, len(self.calls))
        for call_id, cs in list(self.calls.items()):
            aw = self.awaited.get(call_id)
            if aw is not None and not aw.input_id and now - aw.started_at > AWAITED_KEEP_S:
                # its request was refused after the call was made (say, a GPU no device has)
                del self.awaited[call_id], self.calls[call_id]
                self.recent.pop(call_id, None)
                continue
            if not cs.finished:
                continue
            if aw is not None:
                if not aw.delivered and now - (aw.finished_at or now) < AWAITED_KEEP_S:
                    continue
                del self.awaited[call_id]
            del self.calls[call_id]
            self.recent.pop(call_id, None)
        self._compact()

    def _compact(self) -> None:
        """A dict keeps its largest table after its entries go: once a burst of calls (100k
        queued spawns) is over, copy the dicts into tables of their present size."""
        if self._peak > 1024 and len(self.calls) * 8 < self._peak:
            self.calls, self.recent = dict(self.calls), dict(self.recent)
            self.awaited = dict(self.awaited)
            self._peak = len(self.calls)
