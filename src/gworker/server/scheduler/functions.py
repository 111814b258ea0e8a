"""The functions the scheduler holds in memory, loaded from the store on first use."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import msgspec

from gworker_client._protocol import FunctionSpec, from_builtins

from ...store import Store
from ..errors import NotFound
from .state import FunctionState

log = logging.getLogger("gworker.scheduler")


class FunctionTable:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_id: dict[str, FunctionState] = {}

    def __iter__(self) -> Iterator[FunctionState]:
        return iter(list(self.by_id.values()))

    def __len__(self) -> int:
        return len(self.by_id)

    def load(self, row: dict[str, Any]) -> FunctionState:
        fs = FunctionState(
            id=row["id"],
            app_id=row["app_id"],
            tag=row["tag"],
            spec=from_builtins(row["spec"], FunctionSpec),
            module=row["module"],
            code_blob=row["code_blob"],
            live=bool(row["live"]),
            params=row.get("params"),
        )
        self.by_id[fs.id] = fs
        return fs

    def load_live(self) -> None:
        """The live functions after a restart. A stored spec this version cannot read (from a
        bug or an older version) is logged and left out: it must never stop the control plane."""
        for row in self.store.functions(live_only=True):
            try:
                self.load(row)
            except msgspec.ValidationError as e:
                log.error(
                    "function %s (%s) has an unreadable spec, skipped: %s", row["id"], row["tag"], e
                )

    def get(self, fid: str) -> FunctionState:
        fs = self.by_id.get(fid)
        if fs is None:
            row = self.store.function(fid)
            if row is None:
                raise NotFound(f"function {fid} does not exist")
            fs = self.load(row)
        return fs

    def find(self, fid: str) -> FunctionState | None:
        """A function already in memory."""
        return self.by_id.get(fid)

    def of_app(self, app_id: str) -> list[FunctionState]:
        return [fs for fs in self.by_id.values() if fs.app_id == app_id]

    def forget(self, fid: str) -> None:
        self.by_id.pop(fid, None)
