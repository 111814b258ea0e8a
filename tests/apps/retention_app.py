"""Functions for the store's retention tests (server/retention.py)."""

from __future__ import annotations

import time

import gworker_client as gw

app = gw.App("retention")


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def chatty(n: int, tag: str) -> int:
    """Prints ``n`` numbered lines, the oldest first, apart enough to be stored one a row."""
    for i in range(n):
        print(f"{tag} line {i}", flush=True)
        time.sleep(0.05)
    return n


@app.function(retries=gw.Retries(max_retries=2, initial_delay=0.1))
def fails_once(gate: str, tries: str) -> str:
    """Fails its first attempt; its retry waits on the Queue ``gate``, so the input stays
    pending (retried) until the test lets it through."""
    d = gw.Dict.from_name(tries)
    d["n"] = n = d.get("n", 0) + 1
    if n == 1:
        raise RuntimeError("the first attempt fails")
    gw.Queue.from_name(gate).get(timeout=300)
    return "retried"
