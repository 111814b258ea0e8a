"""A map that outlives its client: each result is also recorded in a Dict, so a test can see the
calls finish after the client was killed (gw run --detach)."""

from __future__ import annotations

import time

import gworker_client as gw

app = gw.App("detach-app")


@app.function()
def record(x: int, tag: str) -> int:
    time.sleep(0.5 + 0.2 * x)
    gw.Dict.from_name(f"detach-{tag}", create_if_missing=True)[x] = x * x
    return x * x


@app.local_entrypoint()
def main(tag: str, n: int = 6) -> None:
    for result in record.starmap([(x, tag) for x in range(n)]):
        print("result", result, flush=True)


@app.function(retries=gw.Retries(max_retries=1, initial_delay=3.0))
def fails_once(tag: str) -> str:
    """Fails its first attempt; the retry comes after a delay long enough for several ticks."""
    tries = gw.Dict.from_name(f"detach-{tag}", create_if_missing=True)
    tries["n"] = tries.get("n", 0) + 1
    if tries["n"] == 1:
        raise RuntimeError("first attempt fails")
    return "second attempt"
