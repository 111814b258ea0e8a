"""The lifetime of large arguments and results in the blob store.

A value past ``MAX_INLINE_BYTES`` travels as a reference to a blob the SDK or a container
uploaded (``gworker_client/_payload.py``). Such a blob is tracked from its upload
(``store/payloads.py``) and held by what refers to it:

- a stored input holds its arguments' blob until its output is stored (the store clears the
  arguments then; a retried or re-queued input is still pending, so still holds it);
- a stored output holds its result's blob until a caller is handed the output, or until
  ``OUTPUT_KEEP_S`` passes (Modal keeps results 7 days; so does gworker);
- an awaited call (``.remote()``) lives in memory only: ``Payloads.live`` asks the call book
  which blobs its inputs refer to at each sweep.

A tracked blob that nothing holds is deleted once ``BLOB_GRACE_S`` passed since it was last
touched (uploaded, found by an existence check, or let go by its last holder): that grace covers
a client between its upload and its call, a caller between being handed a reference and fetching
it, and a blob no call ever referred to (a client that died after uploading) goes after it. The
sweep runs from the scheduler's tick every ``BLOB_SWEEP_S`` and does a bounded amount of work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from gworker_client._protocol.limits import blob_digest

from .. import constants as C
from ..store import StateStore
from ..store.payloads import Hold
from .blobs import BlobStore

log = logging.getLogger("gworker.payloads")

# Most tracked blobs one sweep looks at, and most expired result holds it drops.
SWEEP_PAGE = 2000


def input_holds(call_id: str, items: Iterable[tuple[int, bytes]]) -> list[Hold]:
    """The holds of stored inputs ``(idx, args)`` whose arguments are blob references."""
    return [
        (call_id, idx, "args", digest, None)
        for idx, args in items
        if (digest := blob_digest(args)) is not None
    ]


def output_holds(rows: Iterable[tuple[int, str, int, str, bytes]], now: float) -> list[Hold]:
    """The holds of stored outputs ``(seq, call_id, idx, status, data)`` whose results are
    blob references: until a caller has them, or ``OUTPUT_KEEP_S`` from now."""
    until = now + C.OUTPUT_KEEP_S
    return [
        (call_id, idx, "result", digest, until)
        for _, call_id, idx, _, data in rows
        if (digest := blob_digest(data)) is not None
    ]


class Payloads:
    """Deletes the payload blobs nothing holds any more, a page at a time."""

    def __init__(
        self,
        store: StateStore,
        blobs: BlobStore,
        live: Callable[[], set[str]],
        commit: Callable[[], None],
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.live = live  # digests held in memory only (awaited calls' arguments)
        self.commit = commit
        self._cursor = 0  # the rowid the next page starts after
        self._last = 0.0

    def tick(self, now: float) -> None:
        """Called by the scheduler's tick: sweep every ``BLOB_SWEEP_S``."""
        if now - self._last < C.BLOB_SWEEP_S:
            return
        self._last = now
        try:
            self.sweep(time.time())
        except Exception:  # a sweep that failed (a full disk) is tried again next time
            log.exception("the payload blob sweep failed")

    def sweep(self, now: float) -> list[str]:
        """One bounded pass: drop expired result holds, then delete the unheld blobs of one
        page of tracked ones whose grace passed. Returns the digests deleted."""
        self.store.expire_payload_holds(now, SWEEP_PAGE)
        page = self.store.payload_page(self._cursor, SWEEP_PAGE)
        self._cursor = page[-1][0] if len(page) == SWEEP_PAGE else 0
        due = [d for _, d, touched, held in page if not held and touched < now - C.BLOB_GRACE_S]
        if due:
            live = self.live()
            self.store.touch_payloads([d for d in due if d in live], now)
            due = [d for d in due if d not in live]
        # the files first, then the rows: a kill between leaves rows whose files are gone,
        # which the next sweep forgets (never a file nothing tracks)
        for digest in due:
            self.blobs.path(digest).unlink(missing_ok=True)
        self.store.forget_payloads(due)
        self.commit()
        if due:
            log.info("deleted %d payload blobs nothing refers to any more", len(due))
        return due
