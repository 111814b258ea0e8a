"""What a Ray cluster's nodes declare, and the placement decisions taken from it (pure: no Ray).

A node declares GPUs of one type in either of two ways, and the Ray backend understands both:

- gworker's own: ``ray start --num-gpus=8 --resources='{"gpu:H100": 8}'`` (any gworker type:
  ``T4``, ``L4``, ``A10G``, ``L40S``, ``A100-40GB``, ``A100-80GB``, ``H100``, ``H200``, ``B200``);
- Ray's own: the ``accelerator_type:<name>`` resource Ray adds for the GPUs it detects (``H100``,
  ``A100``, ...; sizes such as ``A100-80G`` only where declared by hand).

Ray hands out GPU *indices* of a node without knowing their types, so a node holds one type.
``choose`` turns a container's request (alternatives in order, ``"any"``, families such as
``"A100"``) into one concrete Ray resource request, preferring what fits now over what exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gworker_client._protocol import KNOWN_TYPES, GpuRequest, matches

MIB = 1024 * 1024
GPU_RESOURCE_PREFIX = "gpu:"  # gworker's custom resource: "gpu:<type>": count
ACCELERATOR_PREFIX = "accelerator_type:"
# Ray's accelerator labels -> gworker's GPU types ("A100" alone says no memory size: it meets a
# request for "A100", "any", or the A100 family, never one for a size).
RAY_ACCELERATORS = {
    "T4": "T4",
    "L4": "L4",
    "A10G": "A10G",
    "L40S": "L40S",
    "A100": "A100",
    "A100-40G": "A100-40GB",
    "A100-80G": "A100-80GB",
    "H100": "H100",
    "H200": "H200",
    "B200": "B200",
}


@dataclass(frozen=True)
class NodeGpus:
    """A node's GPUs: their type, how many, and how a container asks Ray for them."""

    type: str
    count: int
    resource: str | None = None  # gworker's custom resource ("gpu:H100"), or
    accelerator: str | None = None  # Ray's accelerator label ("H100")


@dataclass(frozen=True)
class Node:
    id: str
    ip: str
    alive: bool
    cpu: float
    memory_mib: int
    gpus: NodeGpus | None = None
    resources: Mapping[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ip": self.ip,
            "alive": self.alive,
            "cpu": self.cpu,
            "memory_mib": self.memory_mib,
            "gpu_type": self.gpus.type if self.gpus else None,
            "gpu_count": self.gpus.count if self.gpus else 0,
        }


def parse_nodes(raw: Iterable[Mapping[str, Any]]) -> list[Node]:
    """``ray.nodes()`` as ``Node`` records (dead nodes kept, marked so)."""
    nodes = []
    for n in raw:
        res = dict(n.get("Resources") or {})
        nodes.append(
            Node(
                id=str(n.get("NodeID", "")),
                ip=str(n.get("NodeManagerAddress", "")),
                alive=bool(n.get("Alive")),
                cpu=float(res.get("CPU", 0)),
                memory_mib=int(res.get("memory", 0) // MIB),
                gpus=_gpus(res),
                resources=res,
            )
        )
    return nodes


def _gpus(res: Mapping[str, float]) -> NodeGpus | None:
    count = int(res.get("GPU", 0))
    for key, amount in res.items():
        if key.startswith(GPU_RESOURCE_PREFIX) and key[len(GPU_RESOURCE_PREFIX) :] in KNOWN_TYPES:
            return NodeGpus(key[len(GPU_RESOURCE_PREFIX) :], int(min(amount, count)), resource=key)
    for key in res:
        label = key[len(ACCELERATOR_PREFIX) :]
        if key.startswith(ACCELERATOR_PREFIX) and label in RAY_ACCELERATORS and count:
            return NodeGpus(RAY_ACCELERATORS[label], count, accelerator=label)
    return NodeGpus("unknown", count) if count else None


@dataclass(frozen=True)
class Request:
    """One container's reservation, as Ray is asked for it."""

    cpu: float
    memory_mib: int
    gpu_type: str | None = None  # the concrete type chosen (None: no GPU, or "any")
    gpu_count: int = 0
    gpu_resource: str | None = None
    accelerator: str | None = None

    def actor_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.cpu, "memory": self.memory_mib * MIB}
        if self.gpu_count:
            options["num_gpus"] = self.gpu_count
        if self.gpu_resource:
            options["resources"] = {self.gpu_resource: self.gpu_count}
        if self.accelerator:
            options["accelerator_type"] = self.accelerator
        return options

    def fits(self, node: Node, used: Mapping[str, float]) -> bool:
        """Whether this fits on ``node`` beside what ``used`` already holds there."""
        if not node.alive:
            return False
        if node.cpu - used.get("cpu", 0) < self.cpu - 1e-9:
            return False
        if node.memory_mib - used.get("memory_mib", 0) < self.memory_mib:
            return False
        if not self.gpu_count:
            return True
        g = node.gpus
        if g is None or g.count - used.get("gpus", 0) < self.gpu_count:
            return False
        if self.gpu_resource and g.resource != self.gpu_resource:
            return False
        return not (self.accelerator and g.accelerator != self.accelerator)


def candidates(
    cpu: float, memory_mib: int, gpu: Sequence[GpuRequest] | None, nodes: Sequence[Node]
) -> list[Request]:
    """Every way to ask Ray for this container that some live node could ever meet, in the
    request's order of preference."""
    out: list[Request] = [] if gpu else [Request(cpu, memory_mib)]
    for alt in gpu or ():
        if alt.type == "any":
            out.append(Request(cpu, memory_mib, None, alt.count))
            continue
        seen: set[tuple[str | None, str | None]] = set()
        for n in nodes:
            g = n.gpus
            if not n.alive or g is None or not matches(alt.type, g.type):
                continue
            if (g.resource, g.accelerator) in seen:
                continue
            seen.add((g.resource, g.accelerator))
            out.append(Request(cpu, memory_mib, g.type, alt.count, g.resource, g.accelerator))
    return [r for r in out if any(r.fits(n, {}) for n in nodes)]


def choose(
    cpu: float,
    memory_mib: int,
    gpu: Sequence[GpuRequest] | None,
    nodes: Sequence[Node],
    used: Mapping[str, Mapping[str, float]],
) -> tuple[Request | None, bool]:
    """The request to make, and whether it fits now; ``(None, False)`` when no live node could
    ever hold it. ``used`` is node id -> what gworker's containers hold there."""
    options = candidates(cpu, memory_mib, gpu, nodes)
    for r in options:
        if any(r.fits(n, used.get(n.id, {})) for n in nodes):
            return r, True
    return (options[0], False) if options else (None, False)


def summary(nodes: Sequence[Node]) -> str:
    """The GPUs of the live nodes, e.g. ``2x A100-80GB on 10.0.0.3, 8x H100 on 10.0.0.4``."""
    parts = [f"{n.gpus.count}x {n.gpus.type} on {n.ip}" for n in nodes if n.alive and n.gpus]
    return ", ".join(parts) or "no GPUs on any live Ray node"


def largest(nodes: Sequence[Node]) -> str:
    """The biggest live node, for an error about a container that fits none."""
    live = [n for n in nodes if n.alive]
    if not live:
        return "the cluster has no live nodes"
    n = max(live, key=lambda n: (n.cpu, n.memory_mib))
    return f"the largest live node ({n.ip}) has cpu={n.cpu:g}, memory={n.memory_mib} MiB"
