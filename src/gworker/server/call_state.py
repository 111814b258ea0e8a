"""A function call as the call book holds it in memory: its progress and its waiters' event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class CallState:
    id: str
    function_id: str
    total: int | None
    done: int
    cancelled: bool = False
    objects: set[str] = field(default_factory=set)  # named objects pickled into its inputs
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total
