"""Functions with large arguments and results, for the blob lifetime tests (payloads.py)."""

from __future__ import annotations

import gworker_client as gw

app = gw.App("payload-blobs")


@app.function()
def grow(data: bytes) -> bytes:
    """A large result from a large argument: both travel through the blob store."""
    return data + b"!"


@app.function(max_containers=1)
def gated(data: bytes, gate: str) -> int:
    """Runs one at a time, each waiting for an item on the Queue ``gate``: the inputs behind
    the first stay queued until the test lets them through."""
    gw.Queue.from_name(gate).get(timeout=300)
    return len(data)


@app.function(retries=gw.Retries(max_retries=2, initial_delay=0.1))
def fails_once(data: bytes, gate: str, tries: str) -> int:
    """Fails its first attempt; its retry waits on the Queue ``gate``, so the input stays
    pending (retried) until the test lets it through."""
    d = gw.Dict.from_name(tries)
    d["n"] = n = d.get("n", 0) + 1
    if n == 1:
        raise RuntimeError("the first attempt fails")
    gw.Queue.from_name(gate).get(timeout=300)
    return len(data)
