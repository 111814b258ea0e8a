"""Functions with autoscaling options, for the autoscaler tests."""

import os
import time

import gworker_client as gw

app = gw.App("scaling")


@app.function(min_workers=1)
def warm() -> str:
    return os.environ["GW_CONTAINER_ID"]


@app.function(max_workers=2)
def capped(seconds: float) -> str:
    time.sleep(seconds)
    return os.environ["GW_CONTAINER_ID"]


@app.function(idle_timeout=1)
def short_lived() -> str:
    return os.environ["GW_CONTAINER_ID"]


@app.function(buffer_containers=1)
def buffered(seconds: float) -> str:
    time.sleep(seconds)
    return os.environ["GW_CONTAINER_ID"]


@app.cls(min_containers=1)
class WarmClass:
    @gw.method()
    def pid(self) -> str:
        return os.environ["GW_CONTAINER_ID"]
