"""One container working through a backlog in which the first input fails once: each result is
the container's count of inputs started before it, so a test sees where the retry ran."""

from __future__ import annotations

import itertools
import time

import gworker_client as gw

app = gw.App("retry-order")
started = itertools.count()
failed: set[int] = set()


@app.function(
    max_workers=1, retries=gw.Retries(max_retries=1, initial_delay=0.5, backoff_coefficient=1.0)
)
def step(i: int) -> int:
    n = next(started)
    time.sleep(0.1)  # every attempt takes as long, so each lease holds one input
    if i == 0 and not failed:
        failed.add(i)
        raise RuntimeError("the first attempt fails")
    return n
