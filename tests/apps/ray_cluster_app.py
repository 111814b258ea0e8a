"""Functions for the Ray backend's failure tests (they run on the local backend just the same)."""

import time

import gworker_client as gw

app = gw.App("ray-cluster")


@app.function(
    retries=gw.Retries(max_retries=3, initial_delay=0.0, backoff_coefficient=1.0),
    max_containers=6,
)
def slow_square(x: int) -> int:
    time.sleep(0.4)
    return x * x


@app.function(cpu=64)
def huge() -> str:
    return "never"
