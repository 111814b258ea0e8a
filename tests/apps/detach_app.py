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
