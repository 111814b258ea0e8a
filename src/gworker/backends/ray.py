"""The Ray backend: each container is a Ray actor, placed by Ray with its reservations.

The control plane connects to the cluster as a Ray driver (``ray.init(address=...)``). For each
container it creates a ``ContainerActor`` (``ray_node.py``) with ``num_cpus``, ``memory``, and for
a GPU request ``num_gpus`` plus the GPU type (gworker's ``gpu:<type>`` node resource or Ray's
``accelerator_type``); Ray decides the node. The actor starts the container process there and
streams its output, its usage and its end back. Inputs never pass through Ray: the container
pulls them from the control plane over HTTP and the container channel, as on the local backend.

Web requests do not pass through Ray either: the gateway sends them to the container's relay on
its node (``web_relay.py``), with a secret made here for each container (``Placement.web_relay``).

Failures all end as one ``container_exited``: the process ending (its exit code), the actor dying
(``ray kill``, a crashed worker) or its node going away (``ray stop``, a lost machine), which Ray
reports as the actor's death. The scheduler then replaces the container and retries its inputs.

Actors are owned by the control plane's driver: when the control plane exits, Ray kills them, and
their containers die with them (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gworker_client._protocol import GpuRequest

from ..images import ImageBuilder, transfer
from . import ray_nodes
from .base import BackendEvents, CapacityError, LaunchSpec, Placement, WebRelay
from .launch import LaunchError
from .metering import ResourceSample
from .ray_attach import RemoteAgent
from .ray_node import ContainerActor, Ended, NodeLaunch, Output, Started, Usage, node_version
from .sandbox import SandboxProcess

log = logging.getLogger("gworker.backends.ray")

INSTALL_HINT = (
    "the ray backend needs Ray installed where the control plane runs:"
    " pip install 'gworker[ray]' (every Ray node needs gworker and the same Ray version too)"
)
NAMESPACE = "gworker"
# How long a snapshot of the cluster's nodes serves placement decisions.
NODES_TTL_S = 1.0
# How long a stop waits for the actor to answer before killing the actor itself (its node may be
# gone without Ray having noticed yet).
STOP_ANSWER_S = 5.0


class RayMissing(RuntimeError):
    """``--backend ray`` without Ray installed."""


def ray_installed() -> bool:
    """Whether Ray can be imported here (found is not enough: a broken install fails to load)."""
    if importlib.util.find_spec("ray") is None:
        return False
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class _Actor:
    spec: LaunchSpec
    request: ray_nodes.Request
    handle: Any
    placed: asyncio.Future[Placement]
    relay_secret: str
    node_id: str | None = None
    node_ip: str | None = None
    usage: ResourceSample | None = None  # the latest its node measured
    handed: asyncio.Event = field(default_factory=asyncio.Event)  # start() returned its placement


class RayBackend:
    name = "ray"

    def __init__(
        self,
        address: str,
        images: ImageBuilder,
        blob_root: Path,
        *,
        strategy: str = "SPREAD",
    ) -> None:
        if not ray_installed():
            raise RayMissing(INSTALL_HINT)
        import ray

        self._ray = ray
        self.address = address
        self.images = images
        self.strategy = strategy
        self.blob_root = blob_root  # where image exports put layer archives for the nodes
        try:
            ray.init(
                address=address,
                namespace=NAMESPACE,
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=False,
            )
        except Exception as e:
            raise ConnectionError(f"cannot join the Ray cluster at {address!r}: {e}") from e
        self._actor_class: Any = ray.remote(max_restarts=0, max_task_retries=0)(ContainerActor)
        self._actors: dict[str, _Actor] = {}
        self._manifests: dict[str, tuple[str, str]] = {}  # image spec -> (key, manifest)
        self._events: BackendEvents | None = None
        self._nodes: list[ray_nodes.Node] = []
        self._nodes_at = 0.0
        self._followers: set[asyncio.Task[None]] = set()
        self._closed = False

    def bind(self, events: BackendEvents) -> None:
        self._events = events

    # -- what the cluster holds ------------------------------------------------------------------

    def nodes(self) -> list[ray_nodes.Node]:
        """The cluster's nodes (a snapshot at most ``NODES_TTL_S`` old)."""
        now = time.monotonic()
        if now - self._nodes_at > NODES_TTL_S and not self._closed:
            try:
                self._nodes = ray_nodes.parse_nodes(self._ray.nodes())
            except Exception as e:  # the head is unreachable: decide on what was last seen
                log.warning("cannot list the Ray cluster's nodes: %s", e)
            self._nodes_at = now
        return self._nodes

    def _used(self) -> dict[str, dict[str, float]]:
        """What gworker's containers hold on each node; those Ray has not placed yet are counted
        on the first node they fit, as Ray would."""
        used: dict[str, dict[str, float]] = {}
        pending = []
        for a in self._actors.values():
            if a.node_id is None:
                pending.append(a.request)
            else:
                _add(used.setdefault(a.node_id, {}), a.request)
        for r in pending:
            for n in self.nodes():
                if r.fits(n, used.get(n.id, {})):
                    _add(used.setdefault(n.id, {}), r)
                    break
        return used

    def has_room(self, cpu: float, memory_mib: int, gpu: Sequence[GpuRequest] | None) -> bool:
        request, fits = ray_nodes.choose(cpu, memory_mib, gpu, self.nodes(), self._used())
        # cpu or memory no node could ever hold "has room": start() then fails the container
        # with the reason at once, where waiting for room would wait forever (a GPU nothing has
        # is refused earlier, when its inputs are submitted: see can_ever_place)
        return fits or (request is None and not gpu)

    def can_ever_place(self, gpu: Sequence[GpuRequest]) -> bool:
        return bool(ray_nodes.candidates(0, 0, gpu, self.nodes()))

    def gpu_summary(self) -> str:
        return ray_nodes.summary(self.nodes())

    # -- start -----------------------------------------------------------------------------------

    async def start(self, spec: LaunchSpec) -> Placement:
        nodes = self.nodes()
        request, fits = ray_nodes.choose(spec.cpu, spec.memory_mib, spec.gpu, nodes, self._used())
        if request is None:
            raise LaunchError(self._unplaceable(spec))
        if not fits:
            raise CapacityError("no Ray node has room for it now")
        manifest = await self._manifest(spec.image)
        handle = self._actor_class.options(
            name=spec.container_id,
            scheduling_strategy=self.strategy,
            **request.actor_options(),
        ).remote()
        gpu_types = {n.id: n.gpus.type for n in nodes if n.gpus}
        relay_secret = secrets.token_urlsafe(32)
        launch = NodeLaunch(
            spec, manifest, str(self.blob_root), gpu_types, node_version(), relay_secret
        )
        stream = handle.run.remote(launch)
        loop = asyncio.get_running_loop()
        actor = _Actor(spec, request, handle, loop.create_future(), relay_secret)
        self._actors[spec.container_id] = actor
        follower = loop.create_task(self._follow(spec.container_id, actor, stream))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        placement = await self._placed(actor)  # raises if it ended before starting
        actor.handed.set()
        return placement

    async def _placed(self, actor: _Actor) -> Placement:
        """Wait for Ray to place and start the container. While it waits, its request must stay
        feasible: if the last node that could hold it goes away, Ray would queue it forever, so
        the start fails instead, with the reason."""
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(actor.placed), 2 * NODES_TTL_S)
            except asyncio.TimeoutError:
                pass
            if not any(actor.request.fits(n, {}) for n in self.nodes()):
                _fail(actor.placed, LaunchError(self._unplaceable(actor.spec)))
                self._kill(actor.handle)
                return await actor.placed

    def _unplaceable(self, spec: LaunchSpec) -> str:
        nodes = self.nodes()
        if spec.gpu:
            asked = " or ".join(f"{g.type}:{g.count}" for g in spec.gpu)
            return (
                f"no live Ray node can hold a container with gpu {asked}, cpu={spec.cpu:g} and"
                f" memory={spec.memory_mib} MiB; the cluster has {ray_nodes.summary(nodes)}"
            )
        return (
            f"no live Ray node can hold a container with cpu={spec.cpu:g} and"
            f" memory={spec.memory_mib} MiB; {ray_nodes.largest(nodes)}"
        )

    async def _manifest(self, image: dict[str, Any]) -> str:
        """The image's manifest, its layers exported into the blob store for nodes to fetch (built
        at publish; rebuilt if its cache was cleared). Once per image and control plane."""
        spec_key = json.dumps(image, sort_keys=True)
        if spec_key not in self._manifests:

            def export() -> tuple[str, str]:
                built = self.images.build(image)
                kept = self.images.root / "exports" / f"{built.key}.json"
                if kept.exists():  # exported before into this blob store, and still all there
                    text = kept.read_text()
                    layers = transfer.Manifest.from_json(text).layers
                    if all((self.blob_root / x.blob[:2] / x.blob).exists() for x in layers):
                        return built.key, text
                put = transfer.blob_dir_put(self.blob_root)
                text = transfer.export(self.images.store, built.key, put).to_json()
                kept.parent.mkdir(exist_ok=True)
                kept.write_text(text)
                return built.key, text

            self._manifests[spec_key] = await asyncio.to_thread(export)
        return self._manifests[spec_key][1]

    def images_in_use(self) -> set[str]:
        """Image keys exported for containers (their layers must stay while they may run)."""
        return {key for key, _ in self._manifests.values()}

    async def _follow(self, cid: str, actor: _Actor, stream: Any) -> None:
        """Relay the actor's events; end with exactly one report of the container's end (or, if
        it never started, with ``start`` raising instead)."""
        info = "the Ray actor ended without a word"
        try:
            async for ref in stream:
                event = await ref
                if isinstance(event, Started):
                    actor.node_id, actor.node_ip = event.node_id, event.node_ip
                    actor.usage = event.usage
                    relay = WebRelay(event.node_ip, event.relay_port, actor.relay_secret)
                    actor.placed.set_result(
                        Placement(event.pid, event.gpu, node=event.node_ip, web_relay=relay)
                    )
                elif isinstance(event, Usage):
                    actor.usage = event.sample
                elif isinstance(event, Output):
                    for stream_name, text in event.chunks:
                        if self._events:
                            self._events.container_log(cid, stream_name, text)
                elif isinstance(event, Ended):
                    info = event.info
                    if not event.started:
                        raise LaunchError(info)
                    break
        except LaunchError as e:
            info = str(e)
            _fail(actor.placed, e)
        except Exception as e:  # the actor or its node died; Ray says which
            info = self._death(actor, e)
            _fail(actor.placed, LaunchError(info))
        finally:
            self._actors.pop(cid, None)
            self._kill(actor.handle)
        placed = actor.placed
        if placed.done() and not placed.cancelled() and placed.exception() is None:
            await actor.handed.wait()  # start() returned first: the fleet knows the container
            if self._events:
                try:
                    self._events.container_exited(cid, info)
                except Exception:  # a scheduler bug must not hide the exit: log it loudly
                    log.exception("handling the exit of container %s failed", cid)

    def _death(self, actor: _Actor, error: Exception) -> str:
        where = f" on {actor.node_ip}" if actor.node_ip else ""
        self._nodes_at = 0.0  # a node may be gone: look again
        if actor.node_id is None and not any(actor.request.fits(n, {}) for n in self.nodes()):
            return self._unplaceable(actor.spec)  # Ray gave up on it: no node could hold it
        if actor.node_id and not any(n.id == actor.node_id and n.alive for n in self.nodes()):
            return f"its Ray node{where} went away"
        return f"its Ray actor{where} died ({_reason(error)})"

    def _kill(self, handle: Any) -> None:
        if self._closed:  # after ray.shutdown a Ray call would start a new local Ray
            return
        try:
            self._ray.kill(handle, no_restart=True)
        except Exception:  # already gone
            pass

    # -- stop ------------------------------------------------------------------------------------

    async def stop(self, container_id: str, *, force: bool = False) -> None:
        actor = self._actors.get(container_id)
        if actor is None:
            return
        if not actor.placed.done():  # still waiting for a node: nothing runs yet
            self._kill(actor.handle)
            return
        wait = STOP_ANSWER_S if force else STOP_ANSWER_S + 10.0
        try:
            await asyncio.wait_for(actor.handle.stop.remote(force), wait)
        except Exception:  # no answer (its node is going away): end the actor itself
            self._kill(actor.handle)

    async def attach(self, container_id: str) -> SandboxProcess:
        """An agent inside a running container, for commands (``gw container exec``): started
        by its actor on its node and driven through it (``ray_attach.py``)."""
        actor = self._actors.get(container_id)
        if actor is None or not actor.handed.is_set():  # not started (yet), or ended
            raise LaunchError(f"container {container_id} is not running")
        try:
            await actor.handle.attach.remote()
        except Exception as e:
            raise LaunchError(_reason(e)) from None
        return RemoteAgent(actor.handle)

    def container_usage(self, container_id: str) -> ResourceSample | None:
        """What its node last measured (its actor sends a sample each second it changed)."""
        actor = self._actors.get(container_id)
        return actor.usage if actor is not None and actor.placed.done() else None

    def reap_stale(self, container_id: str, pid: int | None) -> None:
        """Actors belong to the driver that made them, so a previous control plane's died with
        it; one that somehow lingers under the container's name is killed."""
        try:
            handle = self._ray.get_actor(container_id, namespace=NAMESPACE)
        except Exception:
            return
        self._kill(handle)

    async def close(self) -> None:
        for actor in list(self._actors.values()):
            self._kill(actor.handle)
        self._actors.clear()
        for task in list(self._followers):
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
        self._closed = True
        await asyncio.to_thread(self._ray.shutdown)

    def describe(self) -> dict[str, Any]:
        nodes = self.nodes()
        live = [n for n in nodes if n.alive]
        by_node: dict[str, int] = {}
        for a in self._actors.values():
            if a.node_id:
                by_node[a.node_id] = by_node.get(a.node_id, 0) + 1
        requests = [a.request for a in self._actors.values()]
        return {
            "name": self.name,
            "address": self.address,
            "containers": len(self._actors),
            "cpu_reserved": sum(r.cpu for r in requests),
            "cpu_capacity": sum(n.cpu for n in live),
            "memory_reserved_mib": sum(r.memory_mib for r in requests),
            "memory_capacity_mib": sum(n.memory_mib for n in live),
            "nodes": [{**n.describe(), "containers": by_node.get(n.id, 0)} for n in nodes],
            "gpu_source": "Ray nodes' resources",
            "gpus": [],
            "placement": self.strategy,
        }


def _add(used: dict[str, float], r: ray_nodes.Request) -> None:
    used["cpu"] = used.get("cpu", 0) + r.cpu
    used["memory_mib"] = used.get("memory_mib", 0) + r.memory_mib
    used["gpus"] = used.get("gpus", 0) + r.gpu_count


def _fail(future: asyncio.Future[Placement], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
    future.exception()  # retrieved: a start that nobody awaits any more logs nothing


def _reason(error: Exception) -> str:
    """Why a Ray call failed: Ray wraps the actor's error, whose last line says why."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return lines[-1] if lines else type(error).__name__
