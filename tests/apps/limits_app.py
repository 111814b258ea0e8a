"""A function that echoes bytes, for the limits tests (large values through the blob store)."""

from __future__ import annotations

import gworker_client as gw

app = gw.App("limits")


@app.function()
def echo(data: bytes) -> bytes:
    return data + b"!"


backlog_app = gw.App("limits-backlog")  # run on a server of its own (pending inputs bounded)


@backlog_app.function()
def square(x: int) -> int:
    return x * x
