"""``BuiltImage``: a built image as the backends use it: layers, a config, run-time files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .overlay import Rootfs

CONTAINER_HOME = "/root"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BuiltImage:
    """A built image: its root filesystem is ``layers`` (digests in ``layers_dir``, bottom
    first) under overlayfs. Paths in ``python``, ``env`` and ``workdir`` are inside the image;
    ``runtime`` and ``files`` are host paths bound in read-only when a container starts."""

    digest: str  # the image's content digest (the SDK's ``Image.digest``)
    key: str  # the store's record of its built layers (``LayerStore.image``)
    layers_dir: Path
    layers: tuple[str, ...]
    python: str  # the interpreter inside the image
    python_version: str  # exact: "3.11.2"
    runtime: Path  # the gworker runtime for this Python, seen at ``pythons.RUNTIME_DIR``
    env: Mapping[str, str] = field(default_factory=dict)  # the image's Image.env(...) values
    workdir: str | None = None
    files: Mapping[str, Path] = field(default_factory=dict)  # container path -> host path
    python_path: tuple[str, ...] = ()  # container directories put on sys.path (local sources)

    def environ(self) -> dict[str, str]:
        """The environment of processes in this image: a clean one (nothing leaks from the
        server's), then the image's own variables."""
        env = {
            "PATH": SYSTEM_PATH,
            "HOME": CONTAINER_HOME,
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        if self.python_path:
            env["PYTHONPATH"] = ":".join(self.python_path)
        env.update(self.env)
        return env

    def layer_paths(self) -> list[Path]:
        return [self.layers_dir / d for d in self.layers]

    def rootfs(self, scratch: Path | None = None) -> Rootfs:
        """Its root filesystem for one process tree with a private tmpfs upper (mount it with
        ``mount_in_child`` in the child, then run ``isolation.command(..., root=merged)``)."""
        where = scratch or self.layers_dir.parent / "scratch"
        where.mkdir(parents=True, exist_ok=True)
        return Rootfs(self.layers_dir, self.layers, where)

    def with_changes(self, **changes: Any) -> BuiltImage:
        return replace(self, **changes)
