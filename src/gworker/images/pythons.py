"""The Python of an image: which interpreter, and the layer that puts it at ``/usr/local/bin``.

- Python 3.11 (the host release's own): Debian's ``python3.11`` from the base layer. The layer
  adds ``python``/``python3`` links in ``/usr/local/bin`` and the gworker runtime's ``.pth``.
- Any other version: an interpreter of this machine (pyenv's, uv-managed, ``python3.X`` on PATH;
  see ``interpreters.py``), copied into a layer at its own prefix (interpreters are built for
  their prefix; the host's release equals the base's, so the libraries they link exist in it).
  Its site-packages start empty: the host's packages never reach an image. The copy is made once
  per machine (``~/.cache/gworker/rootfs/python-*``) and imported into each ``GW_HOME`` by hard
  links.

Downloading interpreters (python-build-standalone, deadsnakes) was rejected: a closed machine has
no network for it. A version with neither source fails listing the versions that can be had.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import debian, interpreters
from .built import SYSTEM_PATH
from .errors import InterpreterNotFound
from .layers import LayerStore, remove_tree
from .runtime import PTH_NAME

VERSION = 1
RUNTIME_DIR = "/opt/gworker/runtime"  # where containers see the gworker runtime
PYTHON = "/usr/local/bin/python"


@dataclass(frozen=True)
class ImagePython:
    version: str  # exact: "3.11.2"
    layer: str  # the digest of the layer that places it
    host: (
        interpreters.Interpreter
    )  # a host interpreter of the same minor (byte-compiles the runtime)
    # where its packages' commands land (`pip install jupyter` puts `jupyter` there) when that
    # is not on the system PATH: a copied interpreter's own prefix
    bin_dir: str | None = None

    def environ(self) -> dict[str, str]:
        """The variables the base step sets: PATH reaching ``bin_dir`` first, as Modal's images
        have their Python's commands in /usr/local/bin."""
        return {"PATH": f"{self.bin_dir}:{SYSTEM_PATH}"} if self.bin_dir else {}


@functools.lru_cache(maxsize=8)
def debian_version(base: Path) -> str:
    out = subprocess.run(
        ["dpkg-query", f"--admindir={base}/var/lib/dpkg", "-W", "-f=${Version}", "python3.11"],
        capture_output=True,
        text=True,
    )
    m = re.match(r"(\d+\.\d+\.\d+)", out.stdout)
    return m.group(1) if m else ""


def ensure(store: LayerStore, base: Path, base_key: str, requested: str) -> ImagePython:
    """The image's Python for ``requested`` ("3.11" or "3.11.7"), its layer in ``store``."""
    native = debian_version(base)
    if native and interpreters._matches(native, requested):
        host = _host_interpreter(requested, native)
        digest = _digest(base_key, "debian", native)
        if not store.has(digest):
            with store.making(digest, f"python {native} (Debian)") as tree:
                _links(tree, "/usr/bin/python3.11")
                _pth(tree / "usr/local/lib/python3.11/dist-packages")
        return ImagePython(native, digest, host)
    try:
        interp = interpreters.find(requested)
    except InterpreterNotFound:
        have = sorted({native, *(c.version for c in interpreters.candidates())} - {""})
        raise InterpreterNotFound(
            f"python_version={requested!r}: no Python {requested} can be had offline here."
            f" Available: {', '.join(have)} (Debian's {native} and this machine's interpreters:"
            f" pyenv, uv-managed, PATH). Install one (`pyenv install {requested}` where"
            " downloads work) or choose one of these."
        ) from None
    layer = host_layer(store, interp, base_key)
    return ImagePython(interp.version, layer, interp, str(interp.prefix / "bin"))


def host_layer(store: LayerStore, interp: interpreters.Interpreter, base_key: str) -> str:
    """The layer placing this machine's interpreter ``interp`` (a copy made once per machine)."""
    digest = _digest(base_key, str(interp.prefix), interp.version)
    if not store.has(digest):
        cached = _machine_copy(interp, digest)
        store.import_tree(cached, digest, f"python {interp.version} ({interp.prefix})")
    return digest


def _host_interpreter(requested: str, native: str) -> interpreters.Interpreter:
    minor = ".".join(native.split(".")[:2])
    try:
        return interpreters.find(minor)
    except InterpreterNotFound:
        raise InterpreterNotFound(
            f"python_version={requested!r}: images of Python {minor} use Debian's {native}, and"
            f" byte-compiling the gworker runtime for it needs a Python {minor} on this machine"
            f" (pyenv install {minor})"
        ) from None


def _machine_copy(interp: interpreters.Interpreter, digest: str) -> Path:
    """The interpreter's prefix copied into an image-shaped tree, once per machine."""
    dest = debian.cache_dir() / f"python-{interp.version}-{digest[:16]}"
    if dest.exists():
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    remove_tree(tmp)
    prefix = interp.prefix
    minor = ".".join(interp.version.split(".")[:2])
    site = f"lib/python{minor}/site-packages"
    target = tmp / prefix.relative_to("/")
    target.parent.mkdir(parents=True, mode=0o755)
    shutil.copytree(
        prefix,
        target,
        symlinks=True,
        ignore=lambda d, names: names if Path(d) == prefix / site else [],
    )
    _fix_modes(tmp, prefix)
    _links(tmp, f"{prefix}/bin/python{minor}")
    _pth(target / site)
    os.rename(tmp, dest)
    return dest


def _fix_modes(tree: Path, prefix: Path) -> None:
    """Directories leading to the prefix (``/root``, ``/root/.pyenv``) readable by everyone."""
    path = tree
    for part in prefix.parts[1:]:
        path = path / part
        os.chmod(path, 0o755)


def _links(tree: Path, executable: str) -> None:
    bindir = tree / "usr/local/bin"
    bindir.mkdir(parents=True, exist_ok=True, mode=0o755)
    for name in ("python", "python3"):
        (bindir / name).unlink(missing_ok=True)
        (bindir / name).symlink_to(executable)


def _pth(site: Path) -> None:
    site.mkdir(parents=True, exist_ok=True, mode=0o755)
    (site / PTH_NAME).write_text(f"{RUNTIME_DIR}\n")


def _digest(base_key: str, origin: str, version: str) -> str:
    text = f"python-layer-v{VERSION}|{base_key}|{origin}|{version}"
    return hashlib.sha256(text.encode()).hexdigest()
