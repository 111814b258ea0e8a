"""A deployed app for the graceful-stop test: a warm class whose exit hook writes into a volume
without committing it (the runtime commits on exit), and a slow function to keep a call busy."""

from __future__ import annotations

import time
from pathlib import Path

import gworker_client as gw
from gworker_client._runtime.volumes import host_path

VOLUME = "graceful-data"
vol = gw.Volume.from_name(VOLUME, create_if_missing=True)
app = gw.App("graceful")


@app.cls(volumes={"/data": vol}, min_workers=1)
class Keeper:
    @gw.on_exit()
    def write_on_exit(self) -> None:
        Path(host_path("/data/exit.txt")).write_text("written on exit")

    @gw.method()
    def ping(self) -> str:
        return "pong"


@app.function(volumes={"/data": vol})
def slow(seconds: float) -> str:
    time.sleep(seconds)
    return "done"
