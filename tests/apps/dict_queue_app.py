"""Functions that use Dicts and Queues from inside containers."""

from __future__ import annotations

from typing import Any

import gworker_client as gw

app = gw.App("dict-queue")


@app.function()
def produce(q: gw.Queue, n: int, partition: str | None = None) -> int:
    """Put ``n`` items into a Queue passed as an argument."""
    q.put_many([f"item-{i}" for i in range(n)], partition=partition)
    return n


@app.function()
def consume(q: gw.Queue, timeout: float) -> Any:
    """Block on a Queue from a container until the caller puts an item."""
    return q.get(timeout=timeout)


@app.function()
def remember(dict_name: str, key: str, value: Any) -> list[str]:
    """Write to a Dict looked up by name inside the container; return its keys."""
    d = gw.Dict.from_name(dict_name)
    d[key] = value
    return sorted(d.keys())
