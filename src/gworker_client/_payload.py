"""Large arguments and results travel through the blob store, as Modal's do.

A pickled value up to ``MAX_INLINE_BYTES`` travels inline in its request; a larger one is
uploaded as a content-addressed blob and replaced by a reference, ``BLOB_REF`` + its sha256. A
pickle starts with byte 0x80 and an error envelope is a msgpack map, so a reference is never
mistaken for either. The server stores and hands on the reference as it would the value (it
never unpickles either); whoever unpickles fetches the blob first.
"""

from __future__ import annotations

import hashlib

from . import _api
from . import exception as exc
from ._protocol.limits import BLOB_REF, MAX_INLINE_BYTES, MAX_PAYLOAD_BYTES, MiB


def outbound(data: bytes, what: str = "value") -> bytes:
    """``data`` as it should travel: itself when small, else a reference to an uploaded blob."""
    if len(data) <= MAX_INLINE_BYTES:
        return data
    if len(data) > MAX_PAYLOAD_BYTES:
        raise exc.InvalidError(
            f"the {what} is {len(data) / MiB:.0f} MiB pickled; gworker carries at most"
            f" {MAX_PAYLOAD_BYTES // MiB} MiB: pass a Volume path or a Dict key instead"
        )
    digest = hashlib.sha256(data).hexdigest()
    _api.client().ensure_blob(digest, data, payload=True)  # deleted once nothing refers to it
    return BLOB_REF + digest.encode()


def inbound(data: bytes, what: str = "result") -> bytes:
    """The value ``data`` stands for: itself, or the blob it references."""
    if not data.startswith(BLOB_REF):
        return data
    digest = data[len(BLOB_REF) :].decode("ascii", "replace")
    try:
        value = _api.client().get(f"/v1/blobs/{digest}", timeout=600)
    except exc.NotFoundError:
        if what != "result":
            raise
        # the server deletes a large result's blob once a caller was handed it (and had time
        # to fetch it), or after it was kept 7 days unfetched
        raise exc.OutputExpiredError(
            f"this large result (blob {digest[:12]}...) is gone from the server: it was fetched"
            " already, or kept unfetched for longer than the server keeps results"
        ) from None
    if not isinstance(value, bytes):
        raise exc.DeserializationError(f"blob {digest} did not come back as bytes")
    return value
