"""An image's build steps as data (``Layer``), and how each is described in errors and reprs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _image_files as files


@dataclass(frozen=True)
class Layer:
    """One build step: ``spec`` is plain data; ``sources`` are local files hashed lazily."""

    spec: Mapping[str, Any]
    force_build: bool = False
    sources: tuple[files.Source, ...] = ()
    blobs: Mapping[str, bytes] = field(default_factory=dict)

    def to_spec(self) -> dict[str, Any]:
        out = dict(self.spec)
        if self.sources:
            out["files"] = [f.to_spec() for src in self.sources for f in src.files()]
            out["roots"] = sorted({src.remote for src in self.sources})
        out["force_build"] = self.force_build
        return out


# steps that may follow files placed at container start: they build nothing
AFTER_MOUNTED_FILES = {
    "env",
    "workdir",
    "add_local_file",
    "add_local_dir",
    "add_local_python_source",
}


def describe(layer: Layer) -> str:
    spec, op = layer.spec, layer.spec["op"]
    if op == "base" and "registry" in spec:
        return f"from_registry({spec['registry']!r})"
    if op == "base" and "dockerfile" in spec:
        return "from_dockerfile(...)"
    if op == "base" and "snapshot" in spec:
        return f"from_id('im-{spec['snapshot']}')"
    if op == "base":
        return f"debian_slim(python_version={spec['python_version']!r})"
    args = spec.get("packages") or spec.get("commands") or []
    if op == "env":
        args = [dict(spec["vars"])]
    elif op == "workdir":
        args = [spec["path"]]
    elif op == "run_function":
        args = [spec["name"]]
    elif layer.sources:
        args = [src.remote for src in layer.sources]
    return f"{op}({', '.join(repr(a) for a in args)})"


def in_container() -> bool:
    """Whether this is a container re-importing the app: its images are built already and the
    caller's local files are not here, so (as in Modal) they are not looked for."""
    return bool(os.environ.get("GW_CONTAINER_ID"))
