"""Function calls: their state, their outputs, and the callers waiting for them."""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..store import Store
from .call_state import CallState
from .errors import NotFound

OutputRow = tuple[int, str, int, str, bytes]  # (input id, call id, index, status, data)


class CallBook:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: dict[str, CallState] = {}

    def get(self, call_id: str) -> CallState:
        """A call's state, loaded from the store when not in memory."""
        cs = self.calls.get(call_id)
        if cs is None:
            row = self.store.call(call_id)
            if row is None:
                raise NotFound(f"function call {call_id} does not exist")
            done = self.store.output_count(call_id)
            cs = CallState(call_id, row["function_id"], row["total"], done, row["cancelled"])
            self.calls[call_id] = cs
        return cs

    def add(self, call_id: str, fid: str, total: int | None) -> None:
        self.calls[call_id] = CallState(call_id, fid, total, 0)

    def is_cancelled(self, call_id: str) -> bool:
        cs = self.calls.get(call_id)
        return cs.cancelled if cs else False

    def record(self, rows: list[OutputRow]) -> None:
        """Store outputs and wake whoever waits on their calls."""
        if not rows:
            return
        self.store.add_outputs(rows)
        touched: dict[str, int] = {}
        for row in rows:
            touched[row[1]] = touched.get(row[1], 0) + 1
        for call_id, n in touched.items():
            cs = self.calls.get(call_id)
            if cs is not None:
                cs.done += n
                cs.notify()

    async def wait(
        self, call_id: str, after: int, timeout: float
    ) -> tuple[list[tuple[int, int, str, bytes]], int | None]:
        """Outputs after the cursor ``after``, waiting up to ``timeout`` for the first."""
        cs = self.get(call_id)
        rows = self.store.outputs_after(call_id, after) if cs.done else []
        deadline = time.monotonic() + timeout
        while not rows and not cs.finished and (left := deadline - time.monotonic()) > 0:
            changed = cs.changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
            rows = self.store.outputs_after(call_id, after)
        return rows, cs.total

    def forget_finished(self) -> None:
        """Finished calls are reloaded from the store if asked for again."""
        for call_id, cs in list(self.calls.items()):
            if cs.finished:
                del self.calls[call_id]
