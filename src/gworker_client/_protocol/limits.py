"""Sizes and counts the server enforces and the SDK respects, in one place.

Each limit is refused with a clear error naming the value and the limit (a 400 or 413 from the
server, ``InvalidError`` in the SDK), before anything is stored. docs/operations.md lists them.
"""

from __future__ import annotations

MiB = 1024 * 1024

# The largest request body any route but a blob upload accepts. The largest bodies the SDK sends
# are a Dict.update chunk (64 MiB) and a Queue.put_many (all its items at once).
MAX_REQUEST_BYTES = 128 * MiB
# A call's pickled arguments, or a result, travel inline up to this size; larger ones are
# uploaded to the blob store by the SDK (or the container) and travel as a reference
# (``_payload.py``), as Modal's do. The server refuses a larger inline value.
MAX_INLINE_BYTES = 4 * MiB
# The largest argument or result at all (inline or through the blob store), and so the largest
# blob upload.
MAX_PAYLOAD_BYTES = 2048 * MiB
# An app's code bundle (its local Python sources, zipped).
MAX_CODE_BUNDLE_BYTES = 64 * MiB
# Inputs one function holds waiting for a container (the server's GW_MAX_PENDING_INPUTS
# lowers or raises it); a submit past it is refused and stores nothing.
MAX_PENDING_INPUTS = 1_000_000
# A large argument or result travels as this prefix and its blob's sha256 (``_payload.py``); the
# server grants a container the blobs so handed to it.
BLOB_REF = b"GW-BLOB:"


def blob_digest(data: bytes) -> str | None:
    """The digest a payload refers to, or None for a value that travels inline."""
    if data[: len(BLOB_REF)] != BLOB_REF:
        return None
    return data[len(BLOB_REF) :].decode("ascii", "replace")


# The largest integer a request may carry where the store keeps it (SQLite's INTEGER).
MAX_INT = 2**63 - 1
