"""The backend contract: backends place containers (start, stop, watch) and never see inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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


@dataclass(frozen=True)
class ContainerSpec:
    container_id: str
    function_id: str
    app_id: str
    env: dict[str, str] = field(default_factory=dict)
    cpu: float = 0.125
    memory_mib: int = 128
    gpu: list[dict[str, Any]] | None = None  # alternatives in preference order
    mounts: list[Mount] = field(default_factory=list)
    image: dict[str, Any] | None = None  # the image spec (built at publish) to run in
    cpu_limit: float | None = None  # enforced limits, when the function sets them
    memory_limit_mib: int | None = None


@dataclass(frozen=True)
class Placement:
    """Where a started container landed."""

    pid: int | None
    gpu: str | None = None  # e.g. "A100-80GB:0,1"


class CapacityError(Exception):
    """The backend has no room for this container now; the autoscaler tries again later."""


class BackendEvents(Protocol):
    def container_exited(self, container_id: str, info: str) -> None: ...

    def container_log(self, container_id: str, stream: str, text: str) -> None: ...


class Backend(Protocol):
    name: str

    def bind(self, events: BackendEvents) -> None: ...

    def has_room(self, cpu: float, memory_mib: int, gpu: list[dict[str, Any]] | None) -> bool:
        """Whether a container with these reservations could start now."""

    def can_ever_place(self, gpu: list[dict[str, Any]]) -> bool:
        """Whether any alternative of this GPU request exists here at all."""

    def gpu_summary(self) -> str: ...

    async def start(self, spec: ContainerSpec) -> Placement:
        """Start the container. Raise CapacityError if it does not fit now."""

    async def stop(self, container_id: str, *, force: bool = False) -> None:
        """Ask the container to exit (SIGTERM, then SIGKILL after a grace period; at once if
        ``force``). Its exit is reported through ``BackendEvents.container_exited``."""

    async def close(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...
