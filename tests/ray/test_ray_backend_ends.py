"""The Ray backend reports a container's end however it comes: its process killed on the node,
its Ray actor killed under it, or a start that can no longer happen (a driver in this process:
the control plane's view)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from pathlib import Path

import pytest

from gworker.backends import LaunchSpec
from gworker.backends.launch import LaunchError
from gworker.backends.ray import NAMESPACE, RayBackend
from gworker.images import ImageBuilder
from gworker_client._image import Image
from gworker_client._protocol import GpuRequest


class Exits:
    def __init__(self) -> None:
        self.info: dict[str, str] = {}
        self.changed = asyncio.Event()

    def container_exited(self, container_id: str, info: str) -> None:
        self.info[container_id] = info
        self.changed.set()

    def container_log(self, container_id: str, stream: str, text: str) -> None:
        pass

    async def wait(self, cid: str) -> str:
        while cid not in self.info:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 60)
        return self.info[cid]


@pytest.fixture
def silent_url():
    """A listening socket nobody answers: a container started against it waits in start-up."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _spec(url: str, gpu: list[GpuRequest] | None = None) -> LaunchSpec:
    cid = "ct-" + uuid.uuid4().hex[:20]
    env = {"GW_SERVER_URL": url, "GW_CONTAINER_ID": cid, "GW_TOKEN_ID": cid}
    env |= {"GW_TOKEN_SECRET": "x", "GW_RECONNECT_TIMEOUT": "0"}
    image = Image.debian_slim().to_spec()
    return LaunchSpec(cid, "fu-test", "ap-test", image=image, env=env, gpu=gpu)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; who reaps it is not the container's business


def run(ray_cluster, cache: Path, test) -> None:
    async def main() -> None:
        builder = ImageBuilder(cache, lambda sha: b"")
        backend = RayBackend(ray_cluster.address, builder, cache / "blobs")
        exits = Exits()
        backend.bind(exits)
        try:
            await test(backend, exits)
        finally:
            await backend.close()

    asyncio.run(main())


def test_a_killed_container_process_is_reported_with_its_signal(ray_cluster, tmp_path, silent_url):
    async def test(backend: RayBackend, exits: Exits) -> None:
        spec = _spec(silent_url)
        placed = await backend.start(spec)
        assert placed.node in ("127.0.0.3", "127.0.0.4") and placed.pid
        os.killpg(placed.pid, signal.SIGKILL)  # every node is on this machine
        assert await exits.wait(spec.container_id) == "killed by signal SIGKILL"

    run(ray_cluster, tmp_path / "images", test)


def test_a_killed_actor_is_reported_as_the_containers_end(ray_cluster, tmp_path, silent_url):
    async def test(backend: RayBackend, exits: Exits) -> None:
        import ray

        spec = _spec(silent_url)
        placed = await backend.start(spec)
        ray.kill(ray.get_actor(spec.container_id, namespace=NAMESPACE))
        info = await exits.wait(spec.container_id)
        assert info.startswith(f"its Ray actor on {placed.node} died")
        assert placed.pid is not None
        for _ in range(100):  # the container dies with its actor's worker (PR_SET_PDEATHSIG)
            if not _running(placed.pid):
                break
            await asyncio.sleep(0.1)
        assert not _running(placed.pid)

    run(ray_cluster, tmp_path / "images", test)


def test_a_start_waiting_on_a_node_that_goes_away_fails(ray_cluster, tmp_path, silent_url):
    """A T4 node whose one GPU other Ray work holds: gworker's start waits in Ray's queue; the
    node goes away; the start fails naming what the cluster still has, instead of waiting
    forever."""
    ray_cluster.add_nodes(("127.0.0.6", 1, 1), gpu_type="T4")

    async def test(backend: RayBackend, exits: Exits) -> None:
        import ray
        from gworker.backends.ray_node import ContainerActor

        other = ray.remote(ContainerActor).options(num_cpus=0, num_gpus=1, resources={"gpu:T4": 1})
        holder = other.remote()
        assert await holder.ping.remote() == "127.0.0.6"
        start = asyncio.ensure_future(backend.start(_spec(silent_url, [GpuRequest("T4", 1)])))
        await asyncio.sleep(3)
        assert not start.done()  # queued by Ray behind the other work
        ray_cluster.stop_node("127.0.0.6")
        with pytest.raises(LaunchError, match=r"no live Ray node can hold .*gpu T4:1"):
            await asyncio.wait_for(start, 60)

    run(ray_cluster, tmp_path / "images", test)
