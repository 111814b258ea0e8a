"""The backend contract (``gworker.backends.base.Backend``), checked against every backend: the
local one (real processes), the Ray one (actors on the session's two-node Ray cluster,
``tests/ray_cluster.py``) and the fake the scheduler's unit tests use."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakes import FakeBackend
from gworker.backends import Backend, LaunchSpec
from gworker.backends.local import LocalBackend
from gworker.backends.metering import ResourceSample
from gworker.images import ImageBuilder
from gworker_client._image import Image
from gworker_client._protocol import GpuRequest


class Events:
    """Records what a backend reports, and lets a test wait for an exit."""

    def __init__(self) -> None:
        self.exits: dict[str, list[str]] = {}
        self.logs: list[tuple[str, str, str]] = []
        self.exited = asyncio.Event()

    def container_exited(self, container_id: str, info: str) -> None:
        self.exits.setdefault(container_id, []).append(info)
        self.exited.set()

    def container_log(self, container_id: str, stream: str, text: str) -> None:
        self.logs.append((container_id, stream, text))

    async def wait_exit(self, cid: str, timeout: float = 30) -> str:
        async def until() -> None:
            while cid not in self.exits:
                self.exited.clear()
                await self.exited.wait()

        await asyncio.wait_for(until(), timeout)
        return self.exits[cid][0]


@pytest.fixture(scope="module")
def silent_server() -> Iterator[str]:
    """A URL whose server accepts connections and never answers: a container started against it
    waits (in start-up) until it is stopped."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for s in held:
        s.close()
    sock.close()


@pytest.fixture(scope="module")
def image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-images")


@pytest.fixture(params=["local", "ray", "fake"])
def make_backend(
    request: pytest.FixtureRequest, tmp_path: Path, image_cache: Path, monkeypatch
) -> Callable[[], Backend]:
    cluster = request.getfixturevalue("ray_cluster") if request.param == "ray" else None

    def make() -> Backend:
        if request.param == "fake":
            return FakeBackend(capacity=1)
        monkeypatch.delenv("GW_GPUS", raising=False)
        builder = ImageBuilder(image_cache, lambda sha: b"")
        if cluster is not None:
            from gworker.backends.ray import RayBackend

            return RayBackend(cluster.address, builder, image_cache / "blobs")
        # room for one container of cpu=1 (the local backend always fits one)
        return LocalBackend(tmp_path / "home", builder, cpu_capacity=1.0, memory_mib=4096)

    return make


# A container's cpu that fills a node: the Ray cluster's workers have 2 CPUs each, the local
# backend here has 1, the fake room for one container whatever its size.
FILLING_CPU = {"ray": 2.0}


def _spec(url: str, cpu: float = 1.0) -> LaunchSpec:
    cid = "ct-" + uuid.uuid4().hex[:20]
    env = {
        "GW_SERVER_URL": url,
        "GW_CONTAINER_ID": cid,
        "GW_TOKEN_ID": cid,
        "GW_TOKEN_SECRET": "x",
        "GW_RECONNECT_TIMEOUT": "0",
    }
    image = Image.debian_slim().to_spec()
    return LaunchSpec(cid, "fu-test", "ap-test", image=image, env=env, cpu=cpu, memory_mib=128)


def run(backend: Backend, test: Callable[[Backend, Events], object]) -> None:
    async def main() -> None:
        events = Events()
        backend.bind(events)
        try:
            await test(backend, events)  # type: ignore[misc]
        finally:
            await backend.close()

    asyncio.run(main())


def test_a_container_that_ends_is_reported_once(make_backend, silent_server):
    async def test(backend: Backend, events: Events) -> None:
        spec = _spec(silent_server)
        placed = await backend.start(spec)
        assert placed.gpu is None
        if isinstance(backend, FakeBackend):
            backend.exit(spec.container_id, "exit code 1")
        else:
            await backend.stop(spec.container_id)  # SIGTERM: it ends itself
        info = await events.wait_exit(spec.container_id)
        assert info.startswith(("exit code", "killed by signal"))
        await asyncio.sleep(0.1)
        assert len(events.exits[spec.container_id]) == 1

    run(make_backend(), test)


def test_a_forced_stop_kills_at_once(make_backend, silent_server):
    async def test(backend: Backend, events: Events) -> None:
        spec = _spec(silent_server)
        await backend.start(spec)
        await backend.stop(spec.container_id, force=True)
        assert await events.wait_exit(spec.container_id, timeout=10) == "killed by signal SIGKILL"

    run(make_backend(), test)


def test_room_is_taken_by_running_containers_and_freed_by_an_exit(make_backend, silent_server):
    async def test(backend: Backend, events: Events) -> None:
        cpu = FILLING_CPU.get(backend.name, 1.0)
        assert backend.has_room(cpu, 128, None)
        started = []
        while backend.has_room(cpu, 128, None) and len(started) < 4:
            spec = _spec(silent_server, cpu)
            await backend.start(spec)
            started.append(spec.container_id)
        assert not backend.has_room(cpu, 128, None)
        await backend.stop(started[0], force=True)
        await events.wait_exit(started[0])
        assert backend.has_room(cpu, 128, None)

    run(make_backend(), test)


def test_a_gpu_request_that_nothing_here_meets(make_backend):
    async def test(backend: Backend, events: Events) -> None:
        request = [GpuRequest(type="B200", count=8)]
        assert not backend.can_ever_place(request)
        assert not backend.has_room(0.125, 128, request)
        assert isinstance(backend.gpu_summary(), str)

    run(make_backend(), test)


def test_stopping_an_unknown_container_is_harmless(make_backend):
    async def test(backend: Backend, events: Events) -> None:
        await backend.stop("ct-unknown")
        await backend.stop("ct-unknown", force=True)
        await asyncio.sleep(0.05)
        assert events.exits == {}

    run(make_backend(), test)


def test_reaping_never_touches_a_process_that_is_not_the_container(make_backend):
    async def test(backend: Backend, events: Events) -> None:
        backend.reap_stale("ct-not-this-process", os.getpid())  # we are still alive after
        backend.reap_stale("ct-no-pid", None)

    run(make_backend(), test)


def test_describe_names_the_backend(make_backend):
    async def test(backend: Backend, events: Events) -> None:
        assert backend.describe()["name"] == backend.name

    run(make_backend(), test)


def test_usage_is_known_while_a_container_runs_and_not_after(make_backend, silent_server):
    async def test(backend: Backend, events: Events) -> None:
        spec = _spec(silent_server)
        await backend.start(spec)
        if isinstance(backend, FakeBackend):
            backend.usage[spec.container_id] = ResourceSample(cpu_s=0.1, memory_mib=20)
        first = backend.container_usage(spec.container_id)
        assert first is not None and first.cpu_s >= 0 and first.memory_mib >= 0
        # the runtime's start-up (an interpreter, imports, connecting) uses CPU and memory: the
        # backend's counters see it, wherever the container runs (a Ray node's within a second)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        running = first
        while not (running.cpu_s > 0 and running.memory_mib > 0) and loop.time() < deadline:
            await asyncio.sleep(0.2)
            running = backend.container_usage(spec.container_id) or running
        assert running.cpu_s > 0 and running.memory_mib > 0, running
        assert running.cpu_s >= first.cpu_s
        await backend.stop(spec.container_id, force=True)
        await events.wait_exit(spec.container_id)
        assert backend.container_usage(spec.container_id) is None

    run(make_backend(), test)
