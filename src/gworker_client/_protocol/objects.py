"""Named objects on the wire: their kinds, ids and names, shared by the SDK and the server.

Dicts, Queues, Volumes and Secrets live in one registry on the server: each object has an id
chosen by the client (``<prefix>-<20 hex>``, so that a retried create is idempotent), a kind, an
environment, and a name that is unique among the objects of its kind in that environment (or no
name: an ephemeral object, or a secret given inline with an app).
"""

from __future__ import annotations

import enum
import re
import uuid

# A name: 1 to NAME_MAX_LEN of letters, digits, '.', '_', '-'.
NAME_MAX_LEN = 64
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]+")
ID_PATTERN = re.compile(r"[a-z]{2}-[0-9a-f]{20}")


class ObjectKind(str, enum.Enum):
    """A kind of named object; the value is the word in messages, CLI commands and URLs."""

    DICT = "dict"  # key-value entries
    QUEUE = "queue"  # FIFO items in partitions
    VOLUME = "volume"  # a versioned file tree
    SECRET = "secret"  # encrypted environment variables
    NFS = "nfs"  # a shared directory containers mount read-write (NetworkFileSystem)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def prefix(self) -> str:
        """What the ids of this kind start with."""
        return _PREFIXES[self]

    @property
    def plural(self) -> str:
        """The URL segment of this kind's routes (``/v1/dicts``)."""
        return "nfs" if self is ObjectKind.NFS else f"{self.value}s"

    @property
    def sdk_class(self) -> str:
        """The SDK class users reach objects of this kind through."""
        return "NetworkFileSystem" if self is ObjectKind.NFS else self.value.capitalize()


_PREFIXES = {
    ObjectKind.DICT: "di",
    ObjectKind.QUEUE: "qu",
    ObjectKind.VOLUME: "vo",
    ObjectKind.SECRET: "sc",
    ObjectKind.NFS: "sv",  # Modal's prefix (a "shared volume")
}


def name_problem(kind: str, name: object) -> str | None:
    """Why ``name`` cannot name an object of ``kind``, or None when it can."""
    if (
        isinstance(name, str)
        and 0 < len(name) <= NAME_MAX_LEN
        and NAME_PATTERN.fullmatch(name) is not None
    ):
        return None
    return (
        f"{kind} name {name!r} is not valid: use 1 to {NAME_MAX_LEN} characters from letters,"
        " digits, '.', '_' and '-'"
    )


def id_problem(kind: ObjectKind, oid: object) -> str | None:
    """Why ``oid`` cannot be the id of a new object of ``kind``, or None when it can."""
    if isinstance(oid, str) and ID_PATTERN.fullmatch(oid) and oid[:2] == kind.prefix:
        return None
    return f"{kind} id {oid!r} is not valid: expected {kind.prefix}-<20 hex digits>"


def new_object_id(kind: ObjectKind) -> str:
    """A fresh id for an object of ``kind``."""
    return f"{kind.prefix}-{uuid.uuid4().hex[:20]}"
