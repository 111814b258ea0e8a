"""What each kind of layer does to the image built so far.

Every step takes the previous ``BuiltImage`` and a fresh snapshot directory and returns the next
``BuiltImage``; steps that only change metadata (``env``, ``workdir``, ``apt_install``) leave the
snapshot empty and share their parent's venv. uv runs on the host (it writes only the snapshot);
commands and build functions run in the image's isolated view with its venv writable.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import isolation
from ..isolation import Mount
from . import process, runtime, snapshots
from .blobs import BlobCache
from .built import BuiltImage
from .errors import AptPackagesMissing, BuildError
from .interpreters import Interpreter

Log = Callable[[str], None]
SecretEnv = Callable[[list[Any]], Mapping[str, str]]
TOOLS_DIR = "/opt/gworker/bin"
BUILD_DIR = "/opt/gworker/build"
_RUN_FUNCTION = (
    "import sys, cloudpickle\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    fn, args, kwargs = cloudpickle.load(f)\n"
    "fn(*args, **kwargs)\n"
)
_APT_HINT = (
    " (system packages come from the host on the local backend: use Image.apt_install(...)"
    " instead of apt-get in run_commands)"
)


@dataclass(frozen=True)
class Context:
    uv: str  # the uv binary
    uv_env: Mapping[str, str]  # the environment uv runs with on the host
    blobs: BlobCache
    tool_mounts: Mapping[str, Mount]  # TOOLS_DIR in build sandboxes: a `pip` shim and uv
    log: Log
    secret_env: SecretEnv | None


def base(
    ctx: Context, snap: Path, interp: Interpreter, runtime_dir: Path, digest: str
) -> BuiltImage:
    venv = snap / "venv"
    argv = [ctx.uv, "venv", "--no-config", "--relocatable", "--python", str(interp.executable)]
    process.run([*argv, str(venv)], ctx.log, env=ctx.uv_env)
    site = venv / "lib" / f"python{_major_minor(interp.version)}" / "site-packages"
    (site / runtime.PTH_NAME).write_text(runtime.pth_line(runtime_dir))
    return BuiltImage(
        digest=digest,
        python=venv / "bin" / "python",
        venv=venv,
        python_home=interp.prefix,
        runtime=runtime_dir,
        python_version=interp.version,
    )


def pip_install(ctx: Context, prev: BuiltImage, layer: Mapping[str, Any], snap: Path) -> BuiltImage:
    venv = snap / "venv"
    snapshots.link_copy(prev.venv, venv)
    argv = [ctx.uv, "pip", "install", "--no-config", "--compile-bytecode"]
    argv += ["--python", str(venv / "bin" / "python")]
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
    if layer.get("requirements"):
        req = snap / "requirements.txt"
        req.write_text(layer["requirements"])
        argv += ["-r", str(req)]
    env = {**ctx.uv_env, **_secrets(ctx, layer)}
    process.run(argv, ctx.log, env=env)
    return prev.with_changes(venv=venv, python=venv / "bin" / "python")


def apt_install(ctx: Context, prev: BuiltImage, layer: Mapping[str, Any]) -> BuiltImage:
    packages = list(layer["packages"])
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        ctx.log(f"system packages present on the host: {' '.join(packages)}")
        return prev
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0 or os.environ.get("GW_ALLOW_APT") != "1":
        sudo = "" if os.geteuid() == 0 else "sudo "
        raise AptPackagesMissing(
            f"Image.apt_install: {', '.join(missing)} not installed on this machine, and this"
            f" server does not install system packages. Run `{sudo}{shlex.join(install)}`, or"
            " start the server as root with GW_ALLOW_APT=1 to let image builds install them."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    process.run(["apt-get", "update", "-q"], ctx.log, env=env)
    process.run(install, ctx.log, env=env)
    return prev


def run_commands(
    ctx: Context, prev: BuiltImage, layer: Mapping[str, Any], snap: Path
) -> BuiltImage:
    image = _writable_copy(prev, snap)
    env = _sandbox_env(ctx, image, layer)
    with _sandbox_mounts(ctx, image, snap) as mounts:
        for cmd in layer["commands"]:
            argv = isolation.command(image, ["/bin/sh", "-c", cmd], mounts=mounts)
            hint = _APT_HINT if "apt" in cmd.split()[0] or "apt-get" in cmd else ""
            process.run(argv, ctx.log, env=env, shown=cmd, hint=hint)
    return image


def run_function(
    ctx: Context, prev: BuiltImage, layer: Mapping[str, Any], snap: Path
) -> BuiltImage:
    image = _writable_copy(prev, snap)
    env = _sandbox_env(ctx, image, layer)
    payload = ctx.blobs.path(layer["function"])
    with _sandbox_mounts(ctx, image, snap) as mounts:
        mounts[f"{BUILD_DIR}/function.pkl"] = Mount(payload)
        argv = [str(image.python), "-c", _RUN_FUNCTION, f"{BUILD_DIR}/function.pkl"]
        argv = isolation.command(image, argv, mounts=mounts)
        process.run(argv, ctx.log, env=env, shown=f"run_function({layer['name']})")
    return image


def add_files(ctx: Context, prev: BuiltImage, layer: Mapping[str, Any], snap: Path) -> BuiltImage:
    tree = snap / "files"
    if prev.files_tree is not None:
        snapshots.link_copy(prev.files_tree, tree)
    else:
        tree.mkdir(mode=0o755)
    for entry in layer.get("files", []):
        _place(tree, entry["path"], ctx.blobs.path(entry["sha256"], entry["mode"]))
    roots = _outermost({*prev.files, *layer.get("roots", [])})
    for root in roots:
        problem = isolation.placement_problem(root)
        if problem:
            raise BuildError(problem)
        if not _host(tree, root).exists():  # an empty directory still appears
            _host(tree, root).mkdir(parents=True, mode=0o755)
    python_path = prev.python_path
    if layer.get("python_path") and layer["python_path"] not in python_path:
        python_path = (*python_path, layer["python_path"])
    files = {root: _host(tree, root) for root in sorted(roots)}
    return prev.with_changes(files=files, files_tree=tree, python_path=python_path)


def _place(tree: Path, target: str, blob: Path) -> None:
    dest = _host(tree, target)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if dest.is_dir() and not dest.is_symlink():
        snapshots.remove(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    os.link(blob, dest)


def _host(tree: Path, target: str) -> Path:
    return tree / PurePosixPath(target).relative_to("/")


def _outermost(paths: set[str]) -> list[str]:
    """Drop paths inside another one: binding the outer directory shows them already."""
    pure = sorted(PurePosixPath(p) for p in paths)
    out: list[PurePosixPath] = []
    for p in pure:
        if not any(p.is_relative_to(o) for o in out):
            out.append(p)
    return [str(p) for p in out]


def _writable_copy(prev: BuiltImage, snap: Path) -> BuiltImage:
    venv = snap / "venv"
    snapshots.full_copy(prev.venv, venv)
    return prev.with_changes(venv=venv, python=venv / "bin" / "python")


@contextlib.contextmanager
def _sandbox_mounts(ctx: Context, image: BuiltImage, snap: Path) -> Iterator[dict[str, Mount]]:
    """The mounts of a build sandbox: the venv writable, a scratch /tmp on disk, the tools; owned
    by the sandbox's uid while it runs and handed back to root after."""
    scratch = snap / "scratch"
    scratch.mkdir()
    os.chmod(scratch, 0o1777)
    nobody = isolation.run_as_nobody()
    if nobody:
        snapshots.chown_tree(image.venv, isolation.NOBODY)
    try:
        yield {
            **ctx.tool_mounts,
            str(image.venv): Mount(image.venv, writable=True),
            "/tmp": Mount(scratch, writable=True),
        }
    finally:
        snapshots.remove(scratch)
        if nobody:
            snapshots.chown_tree(image.venv, 0)


def _sandbox_env(ctx: Context, image: BuiltImage, layer: Mapping[str, Any]) -> dict[str, str]:
    env = {**isolation.network_env(), **image.environ()}
    env["PATH"] = f"{image.venv}/bin:{TOOLS_DIR}:{env['PATH'].split(':', 1)[1]}"
    env.update(
        UV_CACHE_DIR="/tmp/uv-cache",
        UV_LINK_MODE="copy",
        UV_COMPILE_BYTECODE="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    env.update(_secrets(ctx, layer))
    return env


def _secrets(ctx: Context, layer: Mapping[str, Any]) -> Mapping[str, str]:
    refs = list(layer.get("secrets") or [])
    if not refs:
        return {}
    if ctx.secret_env is None:
        raise BuildError("this server cannot resolve secrets for image builds yet")
    return ctx.secret_env(refs)


def _dpkg_installed(spec: str) -> bool:
    name, _, version = spec.partition("=")
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}\t${Version}", name.split(":")[0]],
            capture_output=True,
            text=True,
        )
    except OSError:
        raise AptPackagesMissing(
            "Image.apt_install needs a Debian-based host (dpkg-query was not found)"
        ) from None
    status, _, installed = out.stdout.partition("\t")
    ok = out.returncode == 0 and status.endswith("installed") and "not-installed" not in status
    return ok and (not version or installed == version)


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def tool_mounts(root: Path, uv: str) -> dict[str, Mount]:
    """The tools directory of build sandboxes: a ``pip`` that is ``uv pip`` (images have no pip;
    Modal-style ``run_commands("pip install ...")`` keeps working) and a mount point for uv."""
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True, mode=0o755)
    pip = tools / "pip"
    if not pip.exists():
        pip.write_text('#!/bin/sh\nexec uv pip "$@"\n')
        os.chmod(pip, 0o755)
    (tools / "uv").touch(mode=0o755)
    return {TOOLS_DIR: Mount(tools), f"{TOOLS_DIR}/uv": Mount(Path(uv))}
