"""Process isolation, shared by the local backend (containers) and the image builder (build
steps): a private filesystem view built with bubblewrap.

A container sees, at their usual paths: the host's system directories read-only
(``SYSTEM_DIRS``: ``/usr``, ``/bin``, ``/lib*``, ``/etc``), its image (interpreter, venv, gworker
runtime, added files) read-only at the same paths as on the host, fresh ``/proc`` and ``/dev``,
and private writable ``/tmp`` and ``$HOME`` (``/root``), both tmpfs (charged to the container's
memory cgroup). The rest of the host (``/root``, ``/home``, the user's project, ``/var``, other
images) does not exist there.

Namespaces: mount, pid (it sees only its own processes), ipc, uts and cgroup. The network namespace
is shared by default, because a container reaches the control plane over loopback; ``network=False``
(sandboxes) gives it a private one with only its own loopback.

Identity. When the server runs as root, bubblewrap runs privileged (no user namespace) and the
command is started through ``setpriv`` as uid/gid 65534 (nobody) with no capabilities, an empty
bounding set and no_new_privs: container code cannot read root-only host files such as
``/etc/shadow`` even through the read-only system binds, nor write anything it was not handed.
Running as uid 0 inside a user namespace would look more like Modal but is root's kernel uid for
file access (owner permissions on every root-owned file in view), so it was rejected. When the
server is not root, bubblewrap makes a user namespace and the container keeps the server's uid.
Consequences for callers: writable binds must be writable by that uid (``NOBODY`` as root).

Signals. The backend stops a container with ``killpg(SIGTERM)``. bubblewrap does not forward
signals, and with ``--die-with-parent`` its death kills the sandbox at once, so bwrap must outlive
the SIGTERM: ``command`` starts bwrap through a shell that ignores SIGTERM first (an ignored
disposition survives exec; ``preexec`` does the same where the event loop keeps it), the pid
namespace's init ignores it as every init does, and only the payload acts on it (the gworker
runtime installs its own handler; before that it is ignored and the backend's SIGKILL after
the grace period applies). ``--new-session`` is not used, so the process group reaches the payload;
stdin is /dev/null, so the terminal-injection risk it guards against does not arise.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

CONTAINER_HOME = "/root"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# /etc entries that are often symlinks out of /etc (systemd-resolved, timezone): their targets are
# exposed too, else DNS and local time break inside containers.
_ETC_LINKS = ("/etc/resolv.conf", "/etc/localtime", "/etc/hosts")
NOBODY = 65534
HOSTNAME = "gworker"
# The server's network settings that sandboxed processes need too (proxies, CA bundles, package
# indexes): a sandbox's environment is otherwise built from scratch.
_NETWORK_ENV = {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
_NETWORK_ENV_PREFIXES = ("UV_", "PIP_")


class IsolationUnavailable(RuntimeError):
    """bubblewrap is missing, or this machine does not let it create namespaces."""


class PlacementError(ValueError):
    """A path cannot appear in the container (it lies in a read-only host system directory)."""


class View(Protocol):
    """What isolation needs of an image (``gworker.images.BuiltImage`` provides it)."""

    @property
    def files(self) -> Mapping[str, Path]: ...  # container path -> host path

    @property
    def workdir(self) -> str | None: ...

    def interpreter_paths(self) -> list[Path]: ...


@dataclass(frozen=True)
class Mount:
    """An extra host path to show in the container (a volume, a device, a cache)."""

    source: Path
    writable: bool = False
    device: bool = False


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def run_as_nobody() -> bool:
    return os.geteuid() == 0


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why containers cannot be isolated here, or None. Runs bwrap once with the same namespaces
    and identity switch that containers use."""
    bwrap = bwrap_path()
    if bwrap is None:
        return (
            "bubblewrap (bwrap) is not installed; containers need it for their private filesystem"
            " view: install it with `apt-get install bubblewrap`"
            " (or `./scripts/install-system-deps bubblewrap`)"
        )
    argv = [bwrap, *_namespace_args(network=True), "--ro-bind", "/", "/", "--proc", "/proc"]
    argv += ["--dev", "/dev", "--", *_identity_prefix(), "true"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap ({bwrap}) could not run: {e}"
    if out.returncode == 0:
        return None
    return (
        f"bubblewrap cannot create the namespaces containers need ({out.stderr.strip()})."
        " Allow them: run the server as root, or enable unprivileged user namespaces"
        " (sysctl kernel.unprivileged_userns_clone=1, and on Ubuntu"
        " kernel.apparmor_restrict_unprivileged_userns=0); inside Docker, start the container"
        " with a seccomp/AppArmor profile that permits unshare (or --privileged)."
    )


def check() -> None:
    reason = unavailable_reason()
    if reason:
        raise IsolationUnavailable(reason)


def describe() -> dict[str, Any]:
    reason = unavailable_reason()
    return {
        "mechanism": "bubblewrap" if reason is None else "none",
        "bwrap": bwrap_path(),
        "uid": container_uid(),
        "problem": reason,
    }


def container_uid() -> int:
    return NOBODY if run_as_nobody() else os.geteuid()


def hand_over(path: Path) -> None:
    """Make a host directory writable by containers (for a writable Mount): as root, give it to
    the containers' uid; otherwise it already belongs to the server's user. Only for paths no
    container can reach yet (or whose own name a container cannot replace, as a mount's root):
    a symlink is never followed, but a path inside a mounted directory can still be swapped
    between check and use, so there use ``hand_over_fd`` on a file opened without following."""
    if run_as_nobody():
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


def hand_over_fd(fd: int) -> None:
    """``hand_over`` for an open file or directory: what was opened is what changes owner."""
    if run_as_nobody():
        os.fchown(fd, NOBODY, NOBODY)


def payload_returncode(returncode: int) -> int:
    """bwrap exits with 128+N when its payload dies of signal N (as shells report it): turn that
    back into subprocess's convention, -N, so "killed by SIGKILL" reads as such. (A payload that
    itself exits with 137 is indistinguishable; the convention is worth that.)"""
    if 128 < returncode <= 128 + 64:
        return -(returncode - 128)
    return returncode


def network_env() -> dict[str, str]:
    """Proxy, CA-bundle and package-index variables of the server's environment."""
    return {
        k: v
        for k, v in os.environ.items()
        if k in _NETWORK_ENV or k.lower().endswith("_proxy") or k.startswith(_NETWORK_ENV_PREFIXES)
    }


# bwrap is exec'd by a shell that first ignores SIGTERM: a ``preexec_fn`` doing the same is undone
# by uvloop, which resets the child's signal dispositions after calling it.
IGNORE_SIGTERM = ["/bin/sh", "-c", 'trap "" TERM; exec "$@"', "sh"]


def preexec() -> None:
    """Call in the child before exec'ing the argv from ``command`` (see the module docstring)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def command(
    image: View,
    argv: Sequence[str],
    *,
    mounts: Mapping[str, Mount] | None = None,
    network: bool = True,
    cwd: str | None = None,
    bwrap_args: Sequence[str] = (),
) -> list[str]:
    """The bwrap argv that runs ``argv`` in ``image``'s view plus ``mounts`` (container path ->
    Mount), with ``bwrap_args`` for bwrap itself. Pass ``image.environ()`` (plus the caller's
    variables) as the process environment. Raises IsolationUnavailable, or PlacementError for
    a path that cannot be placed."""
    check()
    binds = [(str(p), Mount(p)) for p in image.interpreter_paths()]
    binds += [(target, Mount(source)) for target, source in sorted(image.files.items())]
    binds += sorted((mounts or {}).items())
    view = _View()
    # outer paths first (a later mount over a parent would hide what is below it); the sort is
    # stable, so for one path the caller's mount comes last and wins
    for target, mount in sorted(binds, key=lambda b: len(PurePosixPath(b[0]).parts)):
        view.bind(target, mount.source, writable=mount.writable, device=mount.device)
    workdir = cwd or image.workdir or CONTAINER_HOME
    view.ensure_dir(workdir, mode="1777")
    bwrap = bwrap_path()
    assert bwrap is not None
    return [
        *IGNORE_SIGTERM,
        bwrap,
        *bwrap_args,
        *_namespace_args(network),
        *_base_args(),
        *view.args,
        "--chdir",
        workdir,
        "--",
        *_identity_prefix(),
        *argv,
    ]


def _namespace_args(network: bool) -> list[str]:
    args = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--hostname", HOSTNAME]
    if not run_as_nobody():
        args += ["--unshare-user", "--cap-drop", "ALL"]
    if not network:
        args.append("--unshare-net")
    return args


def _identity_prefix() -> list[str]:
    if not run_as_nobody():
        return []
    return [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _base_args() -> list[str]:
    args: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for link in _ETC_LINKS:
        real = os.path.realpath(link)
        if os.path.islink(link) and os.path.exists(real) and not _under_system(real):
            args += ["--ro-bind", real, real]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", CONTAINER_HOME]
    return args


def placement_problem(target: str) -> str | None:
    """Why ``target`` cannot be a mount point in containers, or None. Paths under the read-only
    system directories work only where the host already has them (bwrap cannot create a mount
    point inside a read-only bind)."""
    if _under_system(target) and not os.path.exists(target):
        return (
            f"{target} cannot appear in containers on the local backend: it is under"
            f" {', '.join(SYSTEM_DIRS)}, which come read-only from the host. Place it elsewhere,"
            " for example under /root, /app or /data."
        )
    return None


def _under_system(path: str) -> bool:
    p = PurePosixPath(path)
    return any(p == PurePosixPath(d) or p.is_relative_to(d) for d in SYSTEM_DIRS)


class _View:
    """Accumulates bwrap arguments, creating each mount point's parent directories first (bwrap
    would make them 0700, unreadable by the container's uid). Parents inside a writable mount are
    created in it; inside a read-only one they must exist already."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._dirs = {"/", "/tmp", CONTAINER_HOME, "/proc", "/dev"}
        self._mounted: dict[PurePosixPath, bool] = {}  # mount point -> writable

    def bind(
        self, target: str, source: Path, *, writable: bool = False, device: bool = False
    ) -> None:
        problem = placement_problem(target)
        if problem:
            raise PlacementError(problem)
        visible = _under_system(target) and os.path.realpath(target) == str(source)
        if visible and not writable and not device:
            return  # already visible as is
        self._parents(target)
        flag = "--dev-bind" if device else "--bind" if writable else "--ro-bind"
        self.args += [flag, str(source), target]
        self._mounted[PurePosixPath(target)] = writable or device

    def ensure_dir(self, path: str, mode: str) -> None:
        if path in self._dirs or _under_system(path) or self._read_only(PurePosixPath(path)):
            return
        self._parents(path)
        self.args += ["--perms", mode, "--dir", path]
        self._dirs.add(path)

    def _read_only(self, p: PurePosixPath) -> bool:
        """Whether ``p`` lies in (or is) a read-only mount: nothing can be created there."""
        inner = [m for m in self._mounted if p == m or p.is_relative_to(m)]
        return bool(inner) and not self._mounted[max(inner, key=lambda m: len(m.parts))]

    def _parents(self, target: str) -> None:
        for parent in reversed(PurePosixPath(target).parents):
            text = str(parent)
            if text in self._dirs or _under_system(text) or self._read_only(parent):
                continue
            self.args += ["--perms", "0755", "--dir", text]
            self._dirs.add(text)
