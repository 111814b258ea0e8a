"""The function spec: everything the server, the backends and a container know about a function.

The SDK builds one ``FunctionSpec`` per function or class at publish; the server validates it at
its HTTP boundary, stores it, and hands it to containers inside their ``ContainerSpec``. Records
are frozen: a change is a new record (``msgspec.structs.replace``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import msgspec

from .schedule import ScheduleError, ScheduleSpec
from .timing import (
    MAX_EPHEMERAL_DISK_MIB,
    MAX_GPU_COUNT,
    MAX_RETRIES,
    MAX_TIMEOUT_S,
    MAX_WORKERS,
)

Kind = Literal["function", "class"]
ProbeKind = Literal["liveness", "readiness"]


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the protocol's records: frozen and built by keyword."""


class RetryPolicy(Record, frozen=True):
    """A failed input's retries: ``initial_delay * backoff_coefficient**(n-1)``, capped."""

    max_retries: int
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return min(self.initial_delay * self.backoff_coefficient ** (attempt - 1), self.max_delay)


class Concurrency(Record, frozen=True):
    """Inputs one container runs at once, and how many the autoscaler aims for."""

    max_inputs: int
    target_inputs: int


class Batching(Record, frozen=True):
    """Inputs coalesced into one call of lists: at most ``max_batch_size``, waiting ``wait_ms``."""

    max_batch_size: int
    wait_ms: int


class ProbeSpec(Record, frozen=True):
    """A health probe on a class method; ``failures`` in a row act on the container."""

    method: str
    kind: ProbeKind = "liveness"
    period_s: float = 10.0
    failures: int = 3
    timeout_s: float = 5.0


class GpuRequest(Record, frozen=True):
    """One alternative of a GPU request: ``count`` devices of ``type`` (or ``"any"``)."""

    type: str
    count: int = 1


class VolumeMount(Record, frozen=True):
    """A volume mounted at ``mount_path``: the runtime fills it from the control plane."""

    mount_path: str
    volume_id: str
    name: str | None = None


class NfsMount(Record, frozen=True):
    """A network file system mounted read-write at ``mount_path``: one host directory shared by
    every container that mounts it, so writes are visible to all at once."""

    mount_path: str
    nfs_id: str
    name: str | None = None


class BucketMount(Record, frozen=True):
    """An S3-compatible bucket (the objects under ``key_prefix``) synced with ``mount_path``:
    downloaded when the container starts, changes uploaded after each call (unless read-only)."""

    mount_path: str
    bucket_name: str
    endpoint_url: str | None = None
    key_prefix: str = ""
    read_only: bool = False
    requester_pays: bool = False


class SecretRef(Record, frozen=True):
    """A secret a function uses (by id; a named one also by name, to find it again if it was
    deleted and created anew since the publish)."""

    id: str
    name: str | None = None
    environment: str | None = None


class MethodSpec(Record, frozen=True):
    """A class method callable remotely."""

    is_async: bool = False
    is_generator: bool = False  # consumed with remote_gen; items stream through a Queue
    batching: Batching | None = None


class ParamSpec(Record, frozen=True):
    """A class parameter: its name, its type's name, and its default when it has one."""

    name: str
    type: str
    default: Any = msgspec.UNSET


# server: an @app.server class, whose enter hooks start an HTTP server on ``port``
WebKind = Literal["fastapi_endpoint", "asgi_app", "wsgi_app", "web_server", "server"]


class WebEndpoint(Record, frozen=True):
    """A web endpoint the function (or its class's method ``name``) serves through the
    control plane's gateway."""

    kind: WebKind
    name: str | None = None  # the class method serving it; None for a function
    method: str = "GET"  # fastapi_endpoint only
    label: str | None = None
    docs: bool = False  # fastapi_endpoint only: serve /docs and /openapi.json
    requires_proxy_auth: bool = False
    custom_domains: tuple[str, ...] = ()
    port: int | None = None  # web_server and server only
    startup_timeout: float = 5.0  # web_server and server only
    proxy_regions: tuple[str, ...] = ()  # server only: what ``get_urls`` names (after a lookup)


class FunctionSpec(Record, frozen=True, kw_only=True):
    """A function's or class's spec. ``cpu``/``memory`` are reservations, ``cpu_limit``/
    ``memory_limit`` enforced limits when the user set them."""

    kind: Kind = "function"
    generator: bool = False  # a generator function: consumed with remote_gen
    timeout: float
    retries: RetryPolicy | None = None
    cpu: float
    memory: int
    cpu_limit: float | None = None
    memory_limit: int | None = None
    min_workers: int
    max_workers: int
    buffer_workers: int
    idle_timeout: float
    gpu: tuple[GpuRequest, ...] | None = None
    concurrency: Concurrency | None = None
    batching: Batching | None = None
    secrets: tuple[SecretRef, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    network_file_systems: tuple[NfsMount, ...] = ()
    bucket_mounts: tuple[BucketMount, ...] = ()
    # the image spec (layers, built at publish); its own format, checked by the image builder
    image: dict[str, Any] | None = None
    # a class: its methods, hooks, parameters and probes
    methods: dict[str, MethodSpec] = {}
    enter: tuple[str, ...] = ()
    exit: tuple[str, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    probes: tuple[ProbeSpec, ...] = ()
    schedule: ScheduleSpec | None = None  # fired by the control plane (deployed or running apps)
    web: tuple[WebEndpoint, ...] = ()
    # False: the container imports ``module`` from its image (include_source=False), not from
    # the app's code bundle
    include_source: bool = True
    # its containers' tokens reach only their own app (server/scope.py)
    restrict_modal_access: bool = False
    # a container retires (finishing its inputs, running its exit hooks) after running this many
    # inputs, and the autoscaler starts others for the rest (Modal's max_inputs); None: never
    retire_after: int | None = None
    # its containers have a network namespace of their own with only loopback; they reach the
    # control plane through a unix socket bound in (backends/launch.py)
    block_network: bool = False
    # MiB of writable space in a container's root filesystem, /tmp included; None: unsized
    ephemeral_disk: int | None = None

    @property
    def max_inputs(self) -> int:
        """Inputs one container runs at once: its concurrency, or its largest batch."""
        batchings = [self.batching, *(m.batching for m in self.methods.values())]
        largest_batch = max([b.max_batch_size for b in batchings if b] or [1])
        return max(self.concurrency.max_inputs if self.concurrency else 1, largest_batch)

    @property
    def target_inputs(self) -> int:
        """Inputs per container the autoscaler aims for."""
        return self.concurrency.target_inputs if self.concurrency else self.max_inputs

    def probe(self, method: str) -> ProbeSpec | None:
        return next((p for p in self.probes if p.method == method), None)


def spec_problem(spec: FunctionSpec) -> str | None:
    """What is wrong with a well-typed spec's values (the ranges types cannot say), or None."""
    return next(_problems(spec), None)


def _problems(spec: FunctionSpec) -> Iterator[str]:
    if not 0 < spec.timeout <= MAX_TIMEOUT_S:
        yield f"timeout={spec.timeout} must be from 1 to {MAX_TIMEOUT_S}"
    if spec.cpu <= 0 or spec.memory <= 0:
        yield f"cpu={spec.cpu} and memory={spec.memory} must be > 0"
    if not 1 <= spec.max_workers <= MAX_WORKERS:
        yield f"max_workers={spec.max_workers} must be from 1 to {MAX_WORKERS}"
    if not 0 <= spec.min_workers <= spec.max_workers:
        yield f"min_workers={spec.min_workers} must be from 0 to max_workers={spec.max_workers}"
    if not 0 <= spec.buffer_workers <= MAX_WORKERS:
        yield f"buffer_workers={spec.buffer_workers} must be from 0 to {MAX_WORKERS}"
    if spec.idle_timeout <= 0:
        yield f"idle_timeout={spec.idle_timeout} must be > 0"
    if spec.schedule is not None:
        try:
            spec.schedule.check()
        except ScheduleError as e:
            yield f"schedule: {e}"
    if spec.image is None:
        yield "image is missing (the SDK sends the spec of the image it built)"
    r = spec.retries
    if r is not None and not 0 <= r.max_retries <= MAX_RETRIES:
        yield f"retries.max_retries={r.max_retries} must be from 0 to {MAX_RETRIES}"
    if r is not None and (r.initial_delay < 0 or r.max_delay < 0 or r.backoff_coefficient < 1):
        yield "retries need delays >= 0 and backoff_coefficient >= 1"
    if spec.retire_after is not None and spec.retire_after < 1:
        yield f"retire_after={spec.retire_after} must be >= 1"
    if spec.ephemeral_disk is not None and not 1 <= spec.ephemeral_disk <= MAX_EPHEMERAL_DISK_MIB:
        yield f"ephemeral_disk={spec.ephemeral_disk} must be from 1 to {MAX_EPHEMERAL_DISK_MIB} MiB"
    if spec.block_network and spec.web:
        yield "block_network=True cannot serve web endpoints: the gateway reaches them over TCP"
    if spec.block_network and spec.bucket_mounts:
        yield "block_network=True cannot mount buckets: the container downloads their objects"
    c = spec.concurrency
    if c is not None and not 1 <= c.target_inputs <= c.max_inputs:
        yield f"concurrency.target_inputs={c.target_inputs} must be from 1 to max_inputs"
    for g in spec.gpu or ():
        if not 1 <= g.count <= MAX_GPU_COUNT:
            yield f"gpu count {g.count} must be from 1 to {MAX_GPU_COUNT}"
    for b in [spec.batching, *(m.batching for m in spec.methods.values())]:
        if b is not None and (b.max_batch_size < 1 or b.wait_ms < 0):
            yield "batching needs max_batch_size >= 1 and wait_ms >= 0"
    for w in spec.web:
        if w.port is not None and not 1 <= w.port <= 65535:
            yield f"web port {w.port} must be from 1 to 65535"
        if w.startup_timeout <= 0:
            yield f"web startup_timeout {w.startup_timeout} must be > 0"
    for p in spec.probes:
        if p.method not in spec.methods:
            yield f"probe method {p.method!r} is not a method of the class"
        if p.failures < 1 or p.period_s <= 0 or p.timeout_s <= 0:
            yield f"probe {p.method!r} needs failures >= 1 and positive periods"
