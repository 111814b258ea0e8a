"""A known workload for usage accounting: one A100-80GB function and one CPU function, each
holding its container for a known time."""

import time

import gworker_client as gw

app = gw.App("usage-e2e")


@app.function(gpu="A100-80GB", cpu=2.0, memory=1024)
def on_gpu(seconds: float) -> str:
    time.sleep(seconds)
    return "trained"


@app.function(cpu=0.5, memory=256)
def on_cpu(seconds: float) -> str:
    time.sleep(seconds)
    return "prepared"
