"""Classes the end-to-end tests serve."""

import asyncio
import os
import threading
import time

import gworker_client as gw

app = gw.App("classes")
# Containers see none of the test machine's files: what tests observe goes through a Dict.
state = gw.Dict.from_name("cls-app-state", create_if_missing=True)


def container_id() -> str:
    return os.environ.get("GW_CONTAINER_ID", "local")


@app.cls()
class Counter:
    @gw.on_enter()
    def setup(self):
        self.count = 0
        self.pid = container_id()

    @gw.method()
    def incr(self) -> tuple[int, str]:
        self.count += 1
        return self.count, self.pid

    @gw.method()
    async def aincr(self, by: int) -> int:
        await asyncio.sleep(0)
        self.count += by
        return self.count


@app.cls()
class Hooks:
    marker: str = gw.parameter()

    @gw.on_enter()
    async def start(self):
        state[self.marker] = [*state.get(self.marker, []), "enter"]

    @gw.method()
    def ping(self) -> str:
        return "pong"

    @gw.on_exit()
    def stop(self):
        state[self.marker] = [*state.get(self.marker, []), "exit"]


@app.cls()
class Classifier:
    threshold: float = gw.parameter(default=0.5)
    label: str = gw.parameter(default="positive")

    @gw.on_enter()
    def load(self):
        self.pid = container_id()

    @gw.method()
    def classify(self, score: float) -> tuple[str, str]:
        return (self.label if score > self.threshold else "negative"), self.pid


@app.cls()
@gw.concurrent(max_inputs=8)
class Concurrent:
    @gw.on_enter()
    def setup(self):
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    @gw.method()
    async def wait_async(self, seconds: float) -> int:
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(seconds)
        self.active -= 1
        return self.peak

    @gw.method()
    def wait_sync(self, seconds: float) -> int:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(seconds)
        with self.lock:
            self.active -= 1
        return self.peak


@app.cls()
class Batcher:
    @gw.on_enter()
    def setup(self):
        self.batches = []

    @gw.method()
    @gw.batched(max_batch_size=8, wait_ms=200)
    def double(self, xs: list[int]) -> list[int]:
        self.batches.append(len(xs))
        return [2 * x for x in xs]

    @gw.method()
    @gw.batched(max_batch_size=4, wait_ms=50)
    def broken(self, xs: list[int]) -> list[int]:
        return xs[:-1]

    @gw.method()
    def sizes(self) -> list[int]:
        return self.batches


@app.function()
@gw.batched(max_batch_size=16, wait_ms=100)
def batched_square(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@app.cls()
class BadEnter:
    @gw.on_enter()
    def setup(self):
        raise RuntimeError("model weights missing")

    @gw.method()
    def predict(self) -> int:
        return 1


@app.cls(probes=[gw.Probe.on("health", kind="liveness", period_s=0.2, failures=2)])
class Sick:
    """Healthy for its first few probes, then fails them: the platform must replace it."""

    @gw.on_enter()
    def setup(self):
        self.probes = 0

    @gw.method()
    def health(self) -> dict:
        self.probes += 1
        return {"ok": self.probes <= 3}

    @gw.method()
    def pid(self) -> str:
        return container_id()


@app.cls(probes=[gw.Probe.on("health", kind="liveness", period_s=0.1)])
class Steady:
    """Always healthy: its container stays while the tests look at it."""

    @gw.method()
    def health(self) -> bool:
        return True

    @gw.method()
    def pid(self) -> str:
        return container_id()


@app.cls(probes=[gw.Probe.on("ready", kind="readiness", period_s=0.1, failures=1)])
class Warming:
    flag: str = gw.parameter()

    @gw.method()
    def ready(self) -> bool:
        return bool(state.get(self.flag))

    @gw.method()
    def work(self) -> str:
        return "done"


@app.cls(gpu="A100")
class OnGpu:
    @gw.method()
    def devices(self) -> tuple[str, str]:
        time.sleep(0.3)
        return os.environ["CUDA_VISIBLE_DEVICES"], os.environ["GW_GPU"]


@app.function(gpu="H100:2")
def two_h100() -> str:
    return os.environ["CUDA_VISIBLE_DEVICES"]


@app.function(gpu=["H200", "A100-80GB"])
def fallback() -> str:
    return os.environ["GW_GPU"]


@app.function(gpu="B200:4")
def impossible() -> str:
    return "never"
