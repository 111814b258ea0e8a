"""Functions with autoscaling options, for the autoscaler tests."""

import os
import time

import gworker_client as gw

app = gw.App("scaling")


@app.function(min_workers=1)
def warm() -> int:
    return os.getpid()


@app.function(max_workers=2)
def capped(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@app.function(idle_timeout=1)
def short_lived() -> int:
    return os.getpid()


@app.function(buffer_containers=1)
def buffered(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@app.cls(min_containers=1)
class WarmClass:
    @gw.method()
    def pid(self) -> int:
        return os.getpid()
