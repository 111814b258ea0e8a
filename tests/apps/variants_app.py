"""Functions and classes whose variants (with_options, with_concurrency, with_batching) the
tests call next to the originals."""

import os
import threading
import time

import gworker_client as gw

app = gw.App("variants")


def container_id() -> str:
    return os.environ.get("GW_CONTAINER_ID", "local")


@app.function(timeout=30)
def nap(seconds: float) -> str:
    time.sleep(seconds)
    return container_id()


@app.function()
def hog(mib: int) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(mib)]
    return len(blocks)


@app.function()
def count_to(n: int):
    yield from range(n)


@app.cls(timeout=30)
class Labeller:
    label: str = gw.parameter(default="plain")

    @gw.method()
    def nap(self, seconds: float) -> tuple[str, str]:
        time.sleep(seconds)
        return self.label, container_id()


@app.cls(max_containers=1)
class OneAtATime:
    """One container; without concurrency it runs one input at a time."""

    @gw.on_enter()
    def setup(self):
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    @gw.method()
    def wait(self, seconds: float) -> tuple[int, str]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(seconds)
        with self.lock:
            self.active -= 1
        return self.peak, container_id()


@app.cls(max_containers=1)
class SmallBatches:
    @gw.method()
    @gw.batched(max_batch_size=2, wait_ms=200)
    def size(self, xs: list[int]) -> list[int]:
        return [len(xs)] * len(xs)

    @gw.method()
    def plain(self) -> str:
        return container_id()
