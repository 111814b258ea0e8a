"""Functions and classes with Modal's container options: max_inputs, single_use_containers,
block_network, ephemeral_disk, enable_memory_snapshot and nonpreemptible."""

import errno
import os
import socket

import gworker_client as gw

app = gw.App("container-options")
# Containers see none of the test machine's files: what tests observe goes through a Dict.
state = gw.Dict.from_name("container-options-state", create_if_missing=True)


def container_id() -> str:
    return os.environ.get("GW_CONTAINER_ID", "local")


@app.function(max_inputs=1, nonpreemptible=True)
def single(x: int) -> tuple[int, str]:
    return x, container_id()


@app.function(max_inputs=2, max_containers=2)
def pair(x: int) -> tuple[int, str]:
    return x * 2, container_id()


@app.function(max_inputs=2, max_containers=3)
@gw.concurrent(max_inputs=4)
async def concurrent_pair(x: int) -> tuple[int, str]:
    return x, container_id()


@app.function(single_use_containers=True, retries=gw.Retries(max_retries=2, initial_delay=0.0))
def flaky(key: str) -> str:
    """Fails on its first attempt: the retry runs in a fresh container."""
    seen = state.get(key, [])
    state[key] = [*seen, container_id()]
    if not seen:
        raise RuntimeError("first attempt fails")
    return container_id()


@app.cls(single_use_containers=True)
class OneShot:
    marker: str = gw.parameter()

    @gw.enter()
    def started(self):
        state[f"{self.marker}:{container_id()}"] = ["enter"]

    @gw.method()
    def who(self) -> str:
        return container_id()

    @gw.exit()
    def stopped(self):
        key = f"{self.marker}:{container_id()}"
        state[key] = [*state.get(key, []), "exit"]


@app.function(block_network=True)
def offline(port: int, marker: str) -> dict[str, str]:
    """What a container without a network can reach: nothing but the control plane."""
    seen: dict[str, str] = {}
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        seen["host_listener"] = "connected"
    except OSError as e:
        seen["host_listener"] = type(e).__name__
    try:
        socket.getaddrinfo("example.com", 443)
        seen["dns"] = "resolved"
    except OSError as e:
        seen["dns"] = type(e).__name__
    seen["interfaces"] = _interfaces()
    state[marker] = "written from inside"  # the API, through the control plane's socket
    return seen


@app.cls(block_network=True)
class Offline:
    @gw.method()
    def interfaces(self) -> str:
        return _interfaces()


def _interfaces() -> str:
    """The network interfaces the container sees, by name."""
    with open("/proc/net/dev") as f:
        return ",".join(sorted(line.split(":")[0].strip() for line in f.readlines()[2:]))


@app.function(ephemeral_disk=64)
def fill_disk(path: str) -> tuple[int, str]:
    """Write 1 MiB blocks to ``path`` until the writable layer is full; remove the file."""
    written = 0
    block = b"x" * (1024 * 1024)
    try:
        with open(path, "wb") as f:
            while written < 1024:
                f.write(block)
                f.flush()
                written += 1
        return written, "no error"
    except OSError as e:
        return written, errno.errorcode.get(e.errno or 0, str(e))
    finally:
        os.unlink(path)


@app.cls(enable_memory_snapshot=True, experimental_options={"enable_gpu_snapshot": False})
class Snapped:
    @gw.enter()
    def after_snapshot(self):
        self.order = [*getattr(self, "order", []), "snap=False"]

    @gw.enter(snap=True)
    def before_snapshot(self):
        self.order = [*getattr(self, "order", []), "snap=True"]

    @gw.method()
    def hooks(self) -> list[str]:
        return self.order
