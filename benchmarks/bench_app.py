"""The functions gworker runs in the benchmarks. Containers import this module by name."""

from __future__ import annotations

import gworker_client as gw

# One container per core of the 2-core machine the numbers are compared on.
MAP_MAX_WORKERS = 2

app = gw.App("bench")


@app.function()
def echo(x: int) -> int:
    return x


@app.function(max_workers=MAP_MAX_WORKERS)
def echo_map(x: int) -> int:
    return x


# A separate app for cold starts: each `with cold_app.run():` publishes new function ids, so
# the first call of each run needs a new container.
cold_app = gw.App("bench-cold")


@cold_app.function()
def echo_cold(x: int) -> int:
    return x


# The soak (soak.py): calls of mixed sizes, answered with the argument's size.
soak_app = gw.App("bench-soak")


@soak_app.function(max_workers=MAP_MAX_WORKERS)
def soak_echo(data: bytes) -> int:
    return len(data)
