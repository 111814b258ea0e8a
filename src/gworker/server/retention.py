"""Finished work leaves the store, so ``state.db`` stays bounded under steady load.

- A call is kept ``OUTPUT_KEEP_S`` (7 days, as Modal keeps results) after its newest output (or
  its creation, if it has none). After that, if nothing of it is pending (no pending or retrying
  input), no caller holds it in the call book (a caller waiting on it), and no caller read its
  outputs in the last ``READING_S`` (or ``OUTPUT_KEEP_S``, if shorter), it expires: its inputs,
  outputs, named objects and call-graph rows are deleted (``store/retention.py``), and its
  result blobs' grace starts (``payloads.py``: a blob is never deleted while something pending
  refers to it). Asking for it afterwards answers 410, which the SDK raises as
  ``OutputExpiredError`` (as Modal does for a call past its retention).
- Log lines and probe results are kept ``LOG_KEEP_S`` (30 days) and at most ``LOG_MAX_LINES``
  per app (probe results: ``PROBE_MAX_ROWS``), whichever is less.
- Rows of stopped containers, ended sandboxes and past schedule runs (all but each function's
  latest) are kept ``LOG_KEEP_S`` after they ended, as long as the logs that name them.

A sweep starts every ``RETENTION_SWEEP_S`` from the scheduler's tick; it works in passes of
``BATCH`` rows a statement, at most ``PASS_BUDGET_S`` a tick, and goes on at the next tick while
anything due is left, so a backlog of millions of rows drains without holding the event loop.
Everything it goes by is in the store, so a restart in between loses nothing and repeats nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container

from .. import constants as C
from ..store import StateStore

log = logging.getLogger("gworker.retention")

# rows one statement deletes, calls one page looks at, apps one pass caps
BATCH = 2000
CALL_PAGE = 500
APP_PAGE = 50
# the most one tick spends sweeping, however much is due
PASS_BUDGET_S = 0.05
# a call whose outputs a caller read this recently is kept, however old its outputs
READING_S = 300.0
# probe results kept per app (the dashboard shows the newest 200)
PROBE_MAX_ROWS = 10_000


class Retention:
    def __init__(
        self,
        store: StateStore,
        in_use: Callable[[], Container[str]],
        commit: Callable[[], None],
    ) -> None:
        self.store = store
        self.in_use = in_use  # call ids the call book holds (callers waiting, work running)
        self.commit = commit
        self._reading: dict[str, float] = {}  # call id -> when a caller last read its outputs
        self._call_cursor = 0
        self._app_cursor = 0
        self._busy = False
        self._last = 0.0

    def reading(self, call_id: str) -> None:
        """A caller just read this call's outputs."""
        self._reading[call_id] = time.monotonic()

    def tick(self, now: float) -> None:
        """Called by the scheduler's tick: start a sweep every ``RETENTION_SWEEP_S`` and carry
        one on until nothing due is left."""
        if not self._busy and now - self._last < C.RETENTION_SWEEP_S:
            return
        if not self._busy:
            self._last = now
        try:
            deadline = time.monotonic() + PASS_BUDGET_S
            self._busy = self.sweep(time.time(), deadline)
        except Exception:  # a pass that failed (a full disk) is tried again next time
            self._busy = False
            log.exception("the retention sweep failed")

    def sweep(self, now: float, deadline: float) -> bool:
        """Passes until nothing due is left or ``deadline`` (monotonic) passes; True if
        something due is left."""
        while True:
            more = self._pass(now)
            self.commit()
            if not more:
                return False
            if time.monotonic() >= deadline:
                return True

    def _pass(self, now: float) -> bool:
        """One bounded pass over everything with a lifetime; True if it may have left work."""
        more = self.store.purge_expired_calls(BATCH) >= BATCH
        more = self._expire_calls(now) or more
        self.store.drop_tombstones(now - C.OUTPUT_KEEP_S, BATCH)
        log_cutoff = now - C.LOG_KEEP_S
        for table in ("logs", "probes"):
            more = self.store.drop_old_rows(table, log_cutoff, BATCH) >= BATCH or more
        more = self.store.drop_ended(log_cutoff, BATCH) >= BATCH or more
        return self._cap_apps() or more

    def _expire_calls(self, now: float) -> bool:
        page = self.store.call_activity_page(self._call_cursor, CALL_PAGE)
        self._call_cursor = page[-1][0] if len(page) == CALL_PAGE else 0
        seen = time.monotonic() - min(READING_S, C.OUTPUT_KEEP_S)
        self._reading = {c: t for c, t in self._reading.items() if t > seen}
        cutoff = now - C.OUTPUT_KEEP_S
        old = [call_id for _, call_id, active in page if active < cutoff]
        if old:
            held = self.in_use()
            due = [
                c
                for c in old
                if c not in held and c not in self._reading and not self.store.has_pending_inputs(c)
            ]
            if due:
                self.store.expire_calls(due, now)
                log.info("%d finished calls expired (kept %gs)", len(due), C.OUTPUT_KEEP_S)
        return self._call_cursor != 0

    def _cap_apps(self) -> bool:
        page = self.store.app_page(self._app_cursor, APP_PAGE)
        self._app_cursor = page[-1][0] if len(page) == APP_PAGE else 0
        more = False
        for _, app_id in page:
            for table, keep in (("logs", C.LOG_MAX_LINES), ("probes", PROBE_MAX_ROWS)):
                if self.store.cap_app_rows(table, app_id, keep, BATCH) >= BATCH:
                    more = True
        return more or self._app_cursor != 0
