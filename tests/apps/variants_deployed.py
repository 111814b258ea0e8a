"""A deployed app whose function and class the variant tests look up by name."""

import os
import time

import gworker_client as gw

app = gw.App("variants-deployed")


@app.function(timeout=30)
def nap(seconds: float) -> str:
    time.sleep(seconds)
    return os.environ["GW_CONTAINER_ID"]


@app.cls(timeout=30)
class Sleeper:
    @gw.method()
    def nap(self, seconds: float) -> str:
        time.sleep(seconds)
        return os.environ["GW_CONTAINER_ID"]
