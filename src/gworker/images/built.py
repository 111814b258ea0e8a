"""``BuiltImage``: a built image as the backends use it: an interpreter, a view, an environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..isolation import CONTAINER_HOME

_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BuiltImage:
    """A built image. Paths are host paths, and every one of them appears at the same path inside
    an isolated container (read-only), so ``python`` works with and without isolation."""

    digest: str  # the image's content digest (the SDK's ``Image.digest``)
    python: Path  # the venv's interpreter: run containers with this
    venv: Path
    python_home: Path  # the base interpreter's installation, which the venv links to
    runtime: Path  # the gworker runtime the venv's .pth points at
    python_version: str  # exact: "3.11.7"
    env: Mapping[str, str] = field(default_factory=dict)  # the image's Image.env(...) values
    workdir: str | None = None
    files: Mapping[str, Path] = field(default_factory=dict)  # container path -> host path
    python_path: tuple[str, ...] = ()  # container directories put on sys.path (local sources)
    files_tree: Path | None = None  # the builder's merged tree of added files (``files`` point in)

    def environ(self) -> dict[str, str]:
        """The environment of processes in this image: a clean one (nothing leaks from the
        server's), the venv active, then the image's own variables."""
        env = {
            "PATH": f"{self.venv}/bin:{_SYSTEM_PATH}",
            "HOME": CONTAINER_HOME,
            "LANG": "C.UTF-8",
            "VIRTUAL_ENV": str(self.venv),
            "PYTHONUNBUFFERED": "1",
        }
        if self.python_path:
            env["PYTHONPATH"] = ":".join(self.python_path)
        env.update(self.env)
        return env

    def interpreter_paths(self) -> list[Path]:
        """Host directories the interpreter needs, to expose read-only at the same paths."""
        return [self.python_home, self.venv, self.runtime]

    def with_changes(self, **changes: Any) -> BuiltImage:
        return replace(self, **changes)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("python", "venv", "python_home", "runtime"):
            data[key] = str(data[key])
        data["files"] = {k: str(v) for k, v in self.files.items()}
        data["env"] = dict(self.env)
        data["python_path"] = list(self.python_path)
        data["files_tree"] = str(self.files_tree) if self.files_tree else None
        return json.dumps(data, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> BuiltImage:
        d = json.loads(text)
        return cls(
            digest=d["digest"],
            python=Path(d["python"]),
            venv=Path(d["venv"]),
            python_home=Path(d["python_home"]),
            runtime=Path(d["runtime"]),
            python_version=d["python_version"],
            env=d["env"],
            workdir=d["workdir"],
            files={k: Path(v) for k, v in d["files"].items()},
            python_path=tuple(d["python_path"]),
            files_tree=Path(d["files_tree"]) if d["files_tree"] else None,
        )
