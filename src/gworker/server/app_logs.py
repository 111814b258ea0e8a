"""Apps' logs: container output and the app's own lines (image builds), long-polled."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from .. import constants as C
from ..store import Store
from .draining import DRAINING


class AppLogs:
    def __init__(self, store: Store, commit_soon: Callable[[], None]) -> None:
        self.store = store
        self.commit_soon = commit_soon
        self.waiting: dict[str, asyncio.Event] = {}

    def append(self, app_id: str, stream: str, text: str, cid: str | None = None) -> None:
        self.store.add_logs([(app_id, cid, stream, text[: C.LOG_LINE_MAX_BYTES], time.time())])
        self.commit_soon()
        event = self.waiting.pop(app_id, None)
        if event:
            event.set()

    async def wait(self, app_id: str, after: int, timeout: float) -> list[tuple[int, str, str]]:
        """Lines after the cursor ``after``, waiting up to ``timeout`` for the first."""
        rows = self.store.logs_after(app_id, after)
        if rows or timeout <= 0:
            return rows
        event = self.waiting.setdefault(app_id, asyncio.Event())
        with contextlib.suppress(asyncio.TimeoutError):
            await DRAINING.wait_for(event.wait(), timeout)
        return self.store.logs_after(app_id, after)
