"""Everything one control plane process holds, shared by the route modules."""

from __future__ import annotations

from dataclasses import dataclass

from ..store import StateStore
from .blobs import BlobStore
from .scheduler import Scheduler


@dataclass
class State:
    store: StateStore
    blobs: BlobStore
    scheduler: Scheduler
    tokens: dict[str, str]  # token id -> sha256 of its secret
