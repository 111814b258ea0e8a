"""A function asking for a GPU no test machine has, for the GPU fallback test."""

import os

import gworker_client as gw

app = gw.App("gpu-fallback")


@app.function(gpu="B200:4")
def on_b200() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES") or "no devices"
