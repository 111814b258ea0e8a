"""What each kind of build step does: it runs as root inside the image built so far, and whatever
it writes lands in a new layer (the overlay's upper directory).

A step sees the image's root as ``/`` (``isolation.Identity.BUILD``: root with capabilities, the
host's network and resolver), plus, under the reserved ``/opt/gworker``: uv and a ``pip`` that is
``uv pip`` (``bin``), uv's cache shared with the host (``uv-cache``: installs are fast and the
image never holds it), the gworker runtime (for ``run_function``), the step's inputs (``build``)
and the host paths its network settings name (``host``). Nothing under ``/opt/gworker`` is kept:
it is removed from the layer after the step. ``/tmp`` is a tmpfs, as in containers.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import isolation
from ..isolation import Identity, Mount
from . import process
from .blobs import BlobCache
from .built import SYSTEM_PATH, BuiltImage
from .errors import AptPackagesMissing, BuildError
from .layers import LayerStore, remove_tree
from .overlay import Rootfs

Log = Callable[[str], None]
SecretEnv = Callable[[list[Any]], Mapping[str, str]]
TOOLS_DIR = "/opt/gworker/bin"
BUILD_DIR = "/opt/gworker/build"
UV_CACHE = "/opt/gworker/uv-cache"
_RUN_FUNCTION = (
    "import sys, cloudpickle\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    fn, args, kwargs = cloudpickle.load(f)\n"
    "fn(*args, **kwargs)\n"
)
_APT = (
    "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q;"
    " apt-get install -y -q --no-install-recommends {packages};"
    " apt-get clean; rm -rf /var/lib/apt/lists/*"
)


@dataclass(frozen=True)
class Context:
    store: LayerStore
    uv: str  # the uv binary (static: it runs in any image)
    uv_cache: Path
    index_env: Mapping[str, str]  # the host's package index settings, for uv
    blobs: BlobCache
    tools: Path  # the directory with the pip shim
    log: Log
    secret_env: SecretEnv | None


def apt_install(ctx: Context, image: BuiltImage, layer: Mapping[str, Any], upper: Path) -> None:
    packages = " ".join(layer["packages"])
    try:
        in_image(ctx, image, upper, ["/bin/sh", "-c", _APT.format(packages=packages)],
                 shown=f"apt-get install {packages}")  # fmt: skip
    except BuildError as e:
        missing = re.findall(r"Unable to locate package (\S+)", str(e))
        if missing:
            raise AptPackagesMissing(
                f"apt has no package {', '.join(repr(m) for m in missing)} in this image's Debian"
                " release: check the name (`apt-cache search <word>` on a Debian machine, or"
                f" packages.debian.org). apt said:\n{e}"
            ) from None
        raise


def pip_install(ctx: Context, image: BuiltImage, layer: Mapping[str, Any], upper: Path) -> None:
    argv = [f"{TOOLS_DIR}/uv", "pip", "install", "--compile-bytecode"]
    for key, flag in (
        ("index_url", "--index-url"),
        ("extra_index_url", "--extra-index-url"),
        ("find_links", "--find-links"),
    ):
        if layer.get(key):
            argv += [flag, layer[key]]
    if layer.get("pre"):
        argv.append("--prerelease=allow")
    argv += list(layer.get("extra_options") or [])
    argv += list(layer.get("packages") or [])
    mounts = {}
    if layer.get("requirements"):
        req = ctx.store.root / "tmp" / f"requirements-{uuid.uuid4().hex}.txt"
        req.write_text(layer["requirements"])
        mounts[f"{BUILD_DIR}/requirements.txt"] = Mount(req)
        argv += ["-r", f"{BUILD_DIR}/requirements.txt"]
    shown = "uv pip install " + " ".join(argv[4:])
    try:
        in_image(ctx, image, upper, argv, shown=shown, env=secret_values(ctx, layer), mounts=mounts)
    finally:
        for m in mounts.values():
            m.source.unlink(missing_ok=True)


def run_commands(ctx: Context, image: BuiltImage, layer: Mapping[str, Any], upper: Path) -> None:
    env = secret_values(ctx, layer)
    for cmd in layer["commands"]:
        in_image(ctx, image, upper, ["/bin/sh", "-c", cmd], shown=cmd, env=env)


def run_function(ctx: Context, image: BuiltImage, layer: Mapping[str, Any], upper: Path) -> None:
    payload = ctx.blobs.path(layer["function"])
    argv = [image.python, "-c", _RUN_FUNCTION, f"{BUILD_DIR}/function.pkl"]
    mounts = {f"{BUILD_DIR}/function.pkl": Mount(payload)}
    shown = f"run_function({layer['name']})"
    in_image(ctx, image, upper, argv, shown=shown, env=secret_values(ctx, layer), mounts=mounts)


def copy_files(ctx: Context, layer: Mapping[str, Any], upper: Path) -> None:
    """``add_local_*(copy=True)``: the files become part of the layer, owned by root."""
    for root in layer.get("roots", []):
        _host(upper, root).mkdir(parents=True, exist_ok=True, mode=0o755)
    for entry in layer.get("files", []):
        place(upper, entry["path"], ctx.blobs.path(entry["sha256"], entry["mode"]))


def in_image(
    ctx: Context,
    image: BuiltImage,
    upper: Path,
    argv: list[str],
    *,
    shown: str,
    env: Mapping[str, str] | None = None,
    mounts: Mapping[str, Mount] | None = None,
) -> None:
    """Run ``argv`` as root in ``image`` with ``upper`` as its writable layer."""
    scratch = ctx.store.root / "tmp" / f"work-{uuid.uuid4().hex[:12]}"
    scratch.mkdir(parents=True)
    rootfs = Rootfs(ctx.store.root / "layers", image.layers, scratch, upper=upper)
    net_env, net_mounts = isolation.host_network({**isolation.network_env(), **ctx.index_env})
    ctx.uv_cache.mkdir(parents=True, exist_ok=True)
    all_mounts = {
        **net_mounts,
        TOOLS_DIR: Mount(ctx.tools),
        f"{TOOLS_DIR}/uv": Mount(Path(ctx.uv)),
        UV_CACHE: Mount(ctx.uv_cache, writable=True),
        **(mounts or {}),
    }
    full_env = {**net_env, **image.environ()}
    full_env["PATH"] = f"{full_env.get('PATH', SYSTEM_PATH)}:{TOOLS_DIR}"
    full_env.update(
        UV_CACHE_DIR=UV_CACHE,
        UV_LINK_MODE="copy",  # the cache is another filesystem, as far as the overlay knows
        UV_COMPILE_BYTECODE="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_SYSTEM_PYTHON="1",
        UV_BREAK_SYSTEM_PACKAGES="1",
        **(env or {}),
    )
    if image.python:  # known once the image's Python is (a registry image's first steps: not)
        full_env["UV_PYTHON"] = image.python
    command = isolation.command(
        image, argv, root=rootfs.merged, mounts=all_mounts, identity=Identity.BUILD
    )

    def preexec() -> None:
        rootfs.mount_in_child()

    try:
        process.run(command, ctx.log, env=full_env, shown=shown, preexec=preexec)
    finally:
        remove_tree(scratch)
        _drop_mount_points(upper)


def _drop_mount_points(upper: Path) -> None:
    """Remove what only the step's mounts put in the layer."""
    remove_tree(upper / "opt" / "gworker")
    for name in ("etc/resolv.conf", "etc/hosts"):
        path = upper / name
        if path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
            path.unlink()


def place(tree: Path, target: str, blob: Path) -> None:
    dest = _host(tree, target)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if dest.is_dir() and not dest.is_symlink():
        remove_tree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    os.link(blob, dest)


def _host(tree: Path, target: str) -> Path:
    return tree / PurePosixPath(target).relative_to("/")


def outermost(paths: set[str]) -> list[str]:
    """Drop paths inside another one: binding the outer directory shows them already."""
    pure = sorted(PurePosixPath(p) for p in paths)
    out: list[PurePosixPath] = []
    for p in pure:
        if not any(p.is_relative_to(o) for o in out):
            out.append(p)
    return [str(p) for p in out]


def secret_values(ctx: Context, layer: Mapping[str, Any]) -> Mapping[str, str]:
    refs = list(layer.get("secrets") or [])
    if not refs:
        return {}
    if ctx.secret_env is None:
        raise BuildError("this server cannot resolve secrets for image builds yet")
    return ctx.secret_env(refs)


def tools_dir(root: Path) -> Path:
    """A ``pip`` that is ``uv pip`` (images have no pip: Modal-style ``run_commands("pip install
    ...")`` installs into the image's Python) and a mount point for uv."""
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True, mode=0o755)
    for name in ("pip", "pip3"):
        pip = tools / name
        if not pip.exists():
            pip.write_text(f'#!/bin/sh\nexec {TOOLS_DIR}/uv pip "$@"\n')
            os.chmod(pip, 0o755)
    (tools / "uv").touch(mode=0o755)
    return tools
