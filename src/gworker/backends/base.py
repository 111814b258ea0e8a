"""The backend contract: backends place containers (start, stop, watch) and never see inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gworker_client._protocol import GpuRequest

from .metering import ResourceSample


@dataclass(frozen=True)
class Mount:
    """A directory the container sees at ``container_path``.

    ``host_path`` None asks the backend for an empty directory of the container's own there (a
    volume's mount: the runtime fills it from the control plane, ``volume_id`` says which). The
    backend tells the runtime where each mount is in ``GW_MOUNTS`` (JSON list of ``{"path":
    container_path, "dir": where the container finds it, "volume_id": ...}``): ``dir`` is
    ``container_path`` itself when the container is isolated, the host directory when not.
    """

    container_path: str
    host_path: str | None = None
    read_only: bool = False
    volume_id: str | None = None
    # a network file system's id: the backend binds its one shared directory (C.nfs_dir), the
    # same for every container, instead of a directory of the container's own
    nfs_id: str | None = None


@dataclass(frozen=True)
class LaunchSpec:
    """What a backend needs to start one container (it never sees the function or inputs)."""

    container_id: str
    function_id: str
    app_id: str
    image: dict[str, Any]  # the image spec (built at publish) to run in
    env: dict[str, str] = field(default_factory=dict)
    cpu: float = 0.125
    memory_mib: int = 128
    gpu: Sequence[GpuRequest] | None = None  # alternatives in preference order
    mounts: list[Mount] = field(default_factory=list)
    cpu_limit: float | None = None  # enforced limits, when the function sets them
    memory_limit_mib: int | None = None
    # a network namespace of its own with only loopback; the control plane through its sockets
    block_network: bool = False
    ephemeral_disk_mib: int | None = None  # the size of its writable layer, /tmp included
    # the ports its own server listens on (@web_server, @app.server): the local backend gives
    # it a network namespace of its own and forwards a host loopback port to each
    web_ports: tuple[int, ...] = ()


# The headers a request relayed to a container on another node carries (``web_relay.py``).
SECRET_HEADER = "X-Gworker-Relay-Secret"
PORT_HEADER = "X-Gworker-Relay-Port"


@dataclass(frozen=True)
class WebRelay:
    """Where the gateway reaches the web ports of a container on another node: its node's relay
    (``web_relay.py``), which answers only requests that carry ``secret``."""

    host: str  # the node's address
    port: int  # the relay's port there
    secret: str = field(repr=False)  # what the relay checks on every request

    def headers(self, port: int) -> dict[str, str]:
        """The headers a request for the container's loopback ``port`` carries to the relay."""
        return {SECRET_HEADER: self.secret, PORT_HEADER: str(port)}

    @property
    def url_host(self) -> str:
        """The node's address as a URL names it (an IPv6 one in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host


@dataclass(frozen=True)
class Placement:
    """Where a started container landed."""

    pid: int | None
    gpu: str | None = None  # e.g. "A100-80GB:0,1"
    node: str | None = None  # the cluster node's address (None: this machine)
    web_relay: WebRelay | None = None  # how the gateway reaches its web ports (None: loopback)
    # {container port: host loopback port forwarded to it}: where the gateway reaches a port
    # the container reports (a port not here is reached as it is)
    forwards: dict[int, int] = field(default_factory=dict)


class CapacityError(Exception):
    """The backend has no room for this container now; the autoscaler tries again later."""


class BackendEvents(Protocol):
    def container_exited(self, container_id: str, info: str) -> None: ...

    def container_log(self, container_id: str, stream: str, text: str) -> None: ...


class Backend(Protocol):
    """The contract every backend meets; ``tests/backends/test_contract.py`` checks it."""

    name: str

    def bind(self, events: BackendEvents) -> None: ...

    def has_room(self, cpu: float, memory_mib: int, gpu: Sequence[GpuRequest] | None) -> bool:
        """Whether a container with these reservations could start now."""

    def can_ever_place(self, gpu: Sequence[GpuRequest]) -> bool:
        """Whether any alternative of this GPU request exists here at all."""

    def gpu_summary(self) -> str: ...

    async def start(self, spec: LaunchSpec) -> Placement:
        """Start the container. Raise CapacityError if it does not fit now."""

    async def stop(self, container_id: str, *, force: bool = False) -> None:
        """Ask the container to exit (SIGTERM, then SIGKILL after a grace period; at once if
        ``force``). Its exit is reported through ``BackendEvents.container_exited``."""

    def container_usage(self, container_id: str) -> ResourceSample | None:
        """CPU time used and peak memory of a running container so far (None if unknown)."""

    def reap_stale(self, container_id: str, pid: int | None) -> None:
        """Kill what is left of a container a previous control plane started, if it is still
        alive (the control plane restarted; its inputs rerun)."""

    async def close(self) -> None:
        """Stop every container at once (the control plane is shutting down)."""

    def describe(self) -> dict[str, Any]: ...
