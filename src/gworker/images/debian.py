"""The Debian base root filesystem, built once per machine with ``mmdebstrap``.

Why mmdebstrap: it is Debian's own tool for this, builds a ``minbase`` root (what the official
``debian:bookworm-slim`` image holds) from the same mirrors and keyring apt uses, needs no
container runtime, and takes about 20 s. debootstrap is slower and less reproducible; pulling
``debian:bookworm-slim`` needs a registry, which a closed machine may not reach.

The release is the host's (``/etc/os-release``), so the host's pyenv interpreters, built against
the same libraries, run inside the image (``pythons.py``); a host that is not Debian gets
``GW_DEBIAN_RELEASE`` or bookworm. The package set is ``minbase`` plus
``python3.11`` (Debian's interpreter for images of that version) and ``ca-certificates``.

The tree is cached under ``~/.cache/gworker/rootfs/<release>-<key>`` (``GW_ROOTFS_CACHE``
overrides the directory), keyed by the release, the package set and this module's version, built
into a temporary directory and renamed when complete; a file lock keeps two processes from
building it at once. Each ``GW_HOME`` imports it as a layer by hard links.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .errors import BuildError
from .layers import remove_tree
from .process import run

Log = Callable[[str], None]
VERSION = 1
DEFAULT_RELEASE = "bookworm"
PACKAGES = ("python3.11", "ca-certificates")
INSTALL_HINT = (
    "mmdebstrap is not installed; image builds need it for the Debian base root filesystem:"
    " `apt-get install mmdebstrap` (or `./scripts/install-system-deps mmdebstrap`)"
)


@functools.lru_cache(maxsize=1)
def release() -> str:
    """The host's Debian codename ("bookworm")."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        text = ""
    fields = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    if fields.get("ID", "").strip('"') == "debian" and fields.get("VERSION_CODENAME"):
        return fields["VERSION_CODENAME"].strip('"')
    # another distribution (Ubuntu, say): Debian's current stable; mmdebstrap needs
    # debian-archive-keyring, and only Debian's own Python 3.11 is offered
    return os.environ.get("GW_DEBIAN_RELEASE") or DEFAULT_RELEASE


def cache_dir() -> Path:
    env = os.environ.get("GW_ROOTFS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "gworker" / "rootfs"


def base_key(codename: str) -> str:
    text = f"debian-base-v{VERSION}|{codename}|{','.join(sorted(PACKAGES))}|{_arch()}"
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_base(log: Log) -> tuple[Path, str]:
    """The cached base tree and its key, built now if this machine has none."""
    codename = release()
    key = base_key(codename)
    root = cache_dir()
    dest = root / f"{codename}-{key[:16]}"
    if dest.exists():
        return dest, key
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{dest.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not dest.exists():  # built by another process while this one waited
            _build(codename, dest, log)
    return dest, key


def _build(codename: str, dest: Path, log: Log) -> None:
    tool = shutil.which("mmdebstrap")
    if tool is None:
        raise BuildError(INSTALL_HINT)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    remove_tree(tmp)
    log(f"Building the Debian {codename} base root filesystem (once per machine) ...")
    began = time.monotonic()
    argv = [tool, "--variant=minbase", "--mode=root", f"--include={','.join(PACKAGES)}"]
    argv += ['--aptopt=Acquire::Retries "3"', "--skip=output/dev", codename, str(tmp)]
    try:
        run(argv, log, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        _finish(tmp)
        os.rename(tmp, dest)
    except BaseException:
        remove_tree(tmp)
        raise
    log(f"Debian {codename} base ready in {time.monotonic() - began:.1f}s ({dest})")


def _finish(tree: Path) -> None:
    """What every image's root needs beyond minbase."""
    # pip (uv) installs into the image's system Python, which is the image's own: PEP 668's
    # marker protects a host's system, not a container's
    for marker in tree.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    # mount points for the host's resolver files (bound at build and run time), present in the
    # layer so that no build step's layer gets them
    for name in ("resolv.conf", "hosts"):
        path = tree / "etc" / name
        if path.is_symlink():
            path.unlink()
        if not path.exists():
            path.write_text("")
    (tree / "opt" / "gworker").mkdir(parents=True, exist_ok=True, mode=0o755)
    os.chmod(tree / "root", 0o700)


@functools.lru_cache(maxsize=1)
def _arch() -> str:
    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return out.stdout.strip() or os.uname().machine
