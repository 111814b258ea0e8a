"""Layer snapshots: one directory per built layer, derived from its parent's cheaply.

A layer that only installs packages with uv starts from a hard-link copy of its parent's venv
(``cp -al``: metadata only, whatever the size): uv never writes an installed file in place (it
unlinks, or writes a new file and renames; bytecode compilation does the same), so the parent's
files are never changed through the shared inodes. A layer that runs arbitrary code
(``run_commands``, ``run_function``) could append to any file, so it starts from a full copy
(``cp -a --reflink=auto``: copy-on-write where the filesystem supports it, a real copy elsewhere),
which also breaks every link to uv's cache. Re-installing from the parent's frozen requirements
was rejected: it loses whatever commands wrote besides packages.

Snapshot directories carry a random suffix, so a forced rebuild never touches the directory that
running containers have bound.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from .errors import BuildError


def create(root: Path, key: str) -> Path:
    path = root / "snapshots" / f"{key[:32]}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True, mode=0o755)
    os.chmod(path, 0o755)
    return path


def link_copy(src: Path, dst: Path) -> None:
    _cp(["cp", "-al", str(src), str(dst)])


def full_copy(src: Path, dst: Path) -> None:
    _cp(["cp", "-a", "--reflink=auto", str(src), str(dst)])


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def chown_tree(path: Path, uid: int) -> None:
    _cp(["chown", "-R", "-h", f"{uid}:{uid}", str(path)])


def _cp(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise BuildError(f"`{' '.join(argv)}` failed: {out.stderr.strip()}")
