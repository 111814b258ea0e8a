"""Everything one control plane process holds, shared by the route modules."""

from __future__ import annotations

from dataclasses import dataclass

from ..store import StateStore
from ..store.identities import Token
from .blobs import BlobStore
from .scheduler import Scheduler


@dataclass
class State:
    store: StateStore
    blobs: BlobStore
    scheduler: Scheduler
    tokens: dict[str, Token]  # token id -> its secret's sha256, user, role, revocation
