"""The gworker runtime inside images: ``gworker_client``, its dependencies, and the web
server that serves web endpoints (uvicorn with h11 and websockets, all pure Python).

Every image's Python layer has one ``.pth`` line pointing at ``/opt/gworker/runtime``, where
containers get bound a read-only, content-addressed copy of
the packages in ``RUNTIME_PACKAGES``, taken from this server's own environment (the control plane
and the container runtime are one version by construction) and byte-compiled for the image's
Python, since containers see it read-only and could not cache bytecode themselves. Copying these
small packages costs milliseconds and needs no network, which keeps the default image's first build
and every container's start fast.

``msgspec`` (the wire protocol's records) is a compiled extension with no pure-Python fallback:
for an image whose Python differs from the server's, uv installs the same version built for that
Python into the runtime copy (from uv's cache or the host's package index).

A ``.pth`` entry comes after site-packages on ``sys.path``: where an image installs its own
``cloudpickle``, ``msgpack`` or ``uvicorn`` (any version the runtime supports), that one wins and
the runtime uses it too. Web apps' own frameworks (``fastapi``, Flask, ...) are the image's, as in
Modal: ``Image.debian_slim().pip_install("fastapi[standard]")``. msgpack's C extension matches only
this server's Python; under another Python version msgpack falls back to its pure-Python
implementation (same behaviour, slower).

The copy's digest is part of every image's cache key, so a new gworker version rebuilds images
(fast: uv's cache holds their packages) instead of running an old runtime against a new server.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from .errors import BuildError
from .interpreters import Interpreter

RUNTIME_PACKAGES = (
    "gworker_client",
    "cloudpickle",
    "msgpack",
    "msgspec",
    # web endpoints: the ASGI/WSGI server a container runs them under (see _runtime/web.py)
    "uvicorn",
    "h11",
    "click",
    "websockets",
)
# Packages that only work under the Python they were built for (no pure-Python fallback).
COMPILED_PACKAGES = ("msgspec",)
# single-file modules the packages above need on older Pythons (uvicorn on 3.10)
RUNTIME_MODULES = ("typing_extensions",)
PTH_NAME = "_gworker_runtime.pth"
_SKIP = {"__pycache__"}


def package_dirs() -> dict[str, Path]:
    out = {}
    for name in RUNTIME_PACKAGES:
        module = importlib.import_module(name)
        out[name] = Path(module.__file__ or "").resolve().parent
    return out


def module_files() -> dict[str, Path]:
    return {
        name: Path(importlib.import_module(name).__file__ or "").resolve()
        for name in RUNTIME_MODULES
    }


def _files(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP)
        found += [Path(dirpath, f) for f in filenames if not f.endswith((".pyc", ".pyo"))]
    return sorted(found)


def fingerprint() -> str:
    """Digest of the runtime's files (names and contents); cheap enough to recompute per build,
    memoized per file version."""
    h = hashlib.sha256()
    for name, root in package_dirs().items():
        for path in _files(root):
            st = path.stat()
            h.update(f"{name}/{path.relative_to(root)}\0".encode())
            h.update(_file_digest(str(path), st.st_size, st.st_mtime_ns).encode())
    for name, path in module_files().items():
        st = path.stat()
        h.update(f"{name}\0".encode())
        h.update(_file_digest(str(path), st.st_size, st.st_mtime_ns).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ensure(
    cache_root: Path,
    interp: Interpreter,
    digest: str,
    uv: str = "uv",
    uv_env: Mapping[str, str] | None = None,
) -> Path:
    """The runtime directory for this interpreter, created (copied and compiled) if missing."""
    major_minor = "".join(interp.version.split(".")[:2])
    dest = cache_root / "runtime" / f"{digest[:24]}-py{major_minor}"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    # one server builds images on several threads at once: the pid alone is not unique
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for name, root in package_dirs().items():
        shutil.copytree(root, tmp / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in module_files().values():
        shutil.copy2(path, tmp / path.name)
    if major_minor != f"{sys.version_info[0]}{sys.version_info[1]}":
        _install_compiled(interp, tmp, uv, uv_env)
    _compile(interp, tmp)
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, dest)
    except OSError:  # built concurrently by another process: theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _install_compiled(
    interp: Interpreter, root: Path, uv: str, uv_env: Mapping[str, str] | None
) -> None:
    """Replace the copies of compiled packages with builds for the image's Python."""
    wanted = [f"{name}=={importlib.metadata.version(name)}" for name in COMPILED_PACKAGES]
    for name in COMPILED_PACKAGES:
        shutil.rmtree(root / name)
    argv = [uv, "pip", "install", "--no-config", "--no-deps", "--target", str(root)]
    argv += ["--python", str(interp.executable), *wanted]
    out = subprocess.run(argv, capture_output=True, text=True, env=dict(uv_env or os.environ))
    if out.returncode != 0:
        raise BuildError(
            f"the gworker runtime needs {' '.join(wanted)} built for Python {interp.version}, and"
            f" uv could not install it (put a wheel in uv's cache or the host's package index, or"
            f" use this server's Python {sys.version_info[0]}.{sys.version_info[1]}):\n{out.stderr}"
        )


def _compile(interp: Interpreter, root: Path) -> None:
    argv = [str(interp.executable), "-I", "-m", "compileall", "-q", "-j", "0", str(root)]
    out = subprocess.run(argv, capture_output=True, text=True, umask=0o022)
    if out.returncode != 0:
        raise BuildError(
            f"the gworker runtime does not compile under Python {interp.version}"
            f" ({interp.executable}):\n{out.stdout}{out.stderr}"
        )


def pth_line(runtime_dir: Path) -> str:
    return f"{runtime_dir}\n"
