"""Process isolation, shared by the local backend (containers, sandboxes) and the image builder
(build steps): the image's root filesystem as ``/``, under bubblewrap.

The caller mounts the image's layers (``gworker.images.overlay.Rootfs``) in the child before
bwrap is exec'd, and passes the mount point as ``root``. bubblewrap makes that tree ``/`` and adds
fresh ``/proc`` and ``/dev``, a private tmpfs ``/tmp``, the host's resolver files
(``/etc/resolv.conf``, ``/etc/hosts``), the gworker runtime read-only at ``RUNTIME_DIR``, the
image's run-time files and the caller's mounts (volumes, devices, caches). Nothing of the host's
filesystem is visible besides these.

Namespaces: mount, pid (it sees only its own processes), ipc, uts and cgroup. The network namespace
is shared by default, because a container reaches the control plane over loopback; ``network=False``
or ``own_network_in_child`` (sandboxes, ``block_network`` functions, web servers on a port of
their choosing) gives it a private one with only its own loopback (such a function reaches the
control plane through its unix sockets; slirp4netns may then add outbound network).

Identity (``Identity``): bubblewrap runs privileged (the server is root: overlayfs needs it).
- ``BUILD``: root with Docker's default capabilities for ``RUN`` less ``mknod`` (apt, chown,
  setuid files, file capabilities; no mounts, devices or modules): it writes only the new
  layer, through the overlay.
- ``CONTAINER``: uid 0, as in Modal, with no_new_privs and a bounding set cut to what ordinary
  root work in a root filesystem needs (``_CONTAINER_CAPS``: owning and reading its own files,
  switching users, signals): no mounts, no raw network, no devices, no module loading. The host
  files it could read as root are only those bound in, which are its own.
- ``SANDBOX``: uid/gid 65534 (nobody) with no capabilities: code nobody trusts.

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

import ctypes
import enum
import fcntl
import functools
import os
import shutil
import signal
import socket
import struct
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

CONTAINER_HOME = "/root"
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
RUNTIME_DIR = "/opt/gworker/runtime"
# where build steps and containers see the host paths their network settings name (CA bundles,
# local package indexes): under the image's reserved /opt/gworker, never in a layer
HOST_DIR = "/opt/gworker/host"
NOBODY = 65534
HOSTNAME = "gworker"
_RESOLVER_FILES = ("/etc/resolv.conf", "/etc/hosts")
# The server's network settings that isolated processes need too (proxies, CA bundles, package
# indexes): their environment is otherwise built from scratch.
_NETWORK_ENV = {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
_NETWORK_ENV_PREFIXES = ("UV_", "PIP_")
_CONTAINER_CAPS = (
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "setuid",
    "setgid",
    "kill",
    "net_bind_service",
)


# Build steps: Docker's default set for RUN, less mknod (there is no device cgroup here): what apt,
# dpkg and installers need (file ownership, setuid helpers, file capabilities), nothing that
# reaches the host (no mounts, no devices, no modules, no ptrace).
_BUILD_CAPS = (*_CONTAINER_CAPS, "setpcap", "setfcap", "sys_chroot", "audit_write", "net_raw")


class Identity(enum.Enum):
    BUILD = "build"  # root with Docker's RUN capabilities: build steps
    CONTAINER = "container"  # uid 0 with a cut bounding set: functions
    SANDBOX = "sandbox"  # nobody, no capabilities: sandboxes


class IsolationUnavailable(RuntimeError):
    """bubblewrap is missing, or this machine does not let it create namespaces."""


class View(Protocol):
    """What isolation needs of an image (``gworker.images.BuiltImage`` provides it)."""

    @property
    def files(self) -> Mapping[str, Path]: ...  # container path -> host path

    @property
    def workdir(self) -> str | None: ...

    @property
    def runtime(self) -> Path: ...


@dataclass(frozen=True)
class Mount:
    """An extra host path to show in the container (a volume, a device, a cache)."""

    source: Path
    writable: bool = False
    device: bool = False


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why containers cannot be isolated here, or None. Runs bwrap once with the same namespaces
    and identity switch that containers use."""
    if os.geteuid() != 0:
        return (
            "the local backend runs containers in their image's root filesystem (overlayfs), which"
            " needs the server to run as root"
        )
    bwrap = bwrap_path()
    if bwrap is None:
        return (
            "bubblewrap (bwrap) is not installed; containers need it for their private filesystem"
            " view: install it with `apt-get install bubblewrap`"
            " (or `./scripts/install-system-deps bubblewrap`)"
        )
    argv = [bwrap, *_namespace_args(network=True), "--ro-bind", "/", "/", "--proc", "/proc"]
    argv += ["--dev", "/dev", "--", *identity_prefix(Identity.SANDBOX), "true"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap ({bwrap}) could not run: {e}"
    if out.returncode == 0:
        return None
    return (
        f"bubblewrap cannot create the namespaces containers need ({out.stderr.strip()})."
        " Inside Docker, start the container with a seccomp/AppArmor profile that permits unshare"
        " and mount (or --privileged)."
    )


def check() -> None:
    reason = unavailable_reason()
    if reason:
        raise IsolationUnavailable(reason)


def describe() -> dict[str, Any]:
    reason = unavailable_reason()
    return {
        "mechanism": "bubblewrap + overlayfs" if reason is None else "none",
        "bwrap": bwrap_path(),
        "uid": container_uid(),
        "problem": reason,
    }


def container_uid(identity: Identity = Identity.CONTAINER) -> int:
    return NOBODY if identity is Identity.SANDBOX else 0


def hand_over(path: Path, identity: Identity = Identity.SANDBOX) -> None:
    """Make a host directory writable by an isolated process of ``identity`` (for a writable
    Mount): sandboxes run as nobody; containers and builds as root, who owns it already. Only for
    paths no isolated process can reach yet (or whose own name it cannot replace, as a mount's
    root): a symlink is never followed, but a path inside a mounted directory can still be
    swapped between check and use, so there use ``hand_over_fd`` on a file opened without
    following."""
    if identity is Identity.SANDBOX:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


def hand_over_fd(fd: int, identity: Identity = Identity.SANDBOX) -> None:
    """``hand_over`` for an open file or directory: what was opened is what changes owner."""
    if identity is Identity.SANDBOX:
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


def host_network(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Mount]]:
    """``env`` (network variables) rewritten for a process in an image: every host path a value
    names (a CA bundle, a local wheel directory, a ``file://`` index) is bound read-only under
    ``HOST_DIR`` and the value points there. Returns the variables and the mounts."""
    mounts: dict[str, Mount] = {}

    def move(token: str) -> str:
        scheme = "file://" if token.startswith("file://") else ""
        path = token[len(scheme) :]
        if not path.startswith("/") or not os.path.exists(path):
            return token
        inside = HOST_DIR + os.path.normpath(path)
        bound = path
        if scheme and os.path.basename(os.path.normpath(path)) == "simple":
            # a file:// index links its files relative to itself (`../../files/x.whl`, as
            # dir2pi and mirror tools lay them out): bind the directory that holds both
            bound = os.path.dirname(os.path.normpath(path))
        mounts[HOST_DIR + os.path.normpath(bound)] = Mount(Path(os.path.realpath(bound)))
        return scheme + inside

    out = {}
    for key, value in env.items():
        # ":" separates paths only where no value is a URL (`file:///x` is one value)
        seps = [s for s in (",", " ", ":") if s in value and (s != ":" or "://" not in value)]
        sep = seps[0] if seps and key.startswith(("UV_", "PIP_")) else None
        parts = value.split(sep) if sep else [value]
        out[key] = (sep or "").join(move(p) for p in parts)
    return out, mounts


def own_network_in_child() -> None:
    """Call in the child before exec'ing bwrap (a ``preexec_fn``; then pass ``network=True``):
    a network namespace of its own with only loopback, up. bubblewrap's ``--unshare-net`` sets
    loopback up only after reporting its child's pid, so a network stack attached on that report
    (slirp4netns) races it and bwrap fails now and then ("loopback: Failed RTM_NEWADDR")."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(CLONE_NEWNET): {os.strerror(errno)}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        # the kernel gives an interface with IFF_LOOPBACK 127.0.0.1 and ::1 as it comes up
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def preexec() -> None:
    """Call in the child before exec'ing the argv from ``command`` (see the module docstring)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def command(
    image: View,
    argv: Sequence[str],
    *,
    root: Path,
    mounts: Mapping[str, Mount] | None = None,
    network: bool = True,
    cwd: str | None = None,
    identity: Identity = Identity.CONTAINER,
    bwrap_args: Sequence[str] = (),
    private_tmp: bool = True,
) -> list[str]:
    """The bwrap argv that runs ``argv`` in ``image``'s root filesystem, mounted at ``root`` by
    the caller's pre-exec hook, plus ``mounts`` (container path -> Mount), with ``bwrap_args``
    for bwrap itself. Pass ``image.environ()`` (plus the caller's variables) as the process
    environment. ``private_tmp=False``: ``/tmp`` is the root's own, in its writable layer (so a
    sized layer bounds it too), not a tmpfs of its own."""
    check()
    binds = [(RUNTIME_DIR, Mount(image.runtime))]
    binds += [(target, Mount(source)) for target, source in sorted(image.files.items())]
    binds += [(f, Mount(Path(os.path.realpath(f)))) for f in _RESOLVER_FILES if os.path.exists(f)]
    binds += sorted((mounts or {}).items())
    args = ["--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--tmpfs" if private_tmp else "--dir", "/tmp"]
    made = {"/", "/tmp", "/proc", "/dev"}
    # outer paths first (a later mount over a parent would hide what is below it); the sort is
    # stable, so for one path the caller's mount comes last and wins
    for target, mount in sorted(binds, key=lambda b: len(PurePosixPath(b[0]).parts)):
        args += _parents(target, made)
        flag = "--dev-bind" if mount.device else "--bind" if mount.writable else "--ro-bind"
        args += [flag, str(mount.source), target]
    workdir = cwd or image.workdir or CONTAINER_HOME
    # a sandbox runs as nobody: a working directory made for it must be writable by it
    mode = "1777" if identity is Identity.SANDBOX else "0755"
    args += [*_parents(workdir, made), "--perms", mode, "--dir", workdir]
    if identity is Identity.SANDBOX and CONTAINER_HOME not in dict(binds):
        # and so must its HOME, the default working directory (the image's /root is root's,
        # 0700): tools write their caches and state there (`~/.local`), as in a Modal sandbox,
        # which runs as root. The change lands in its private upper layer only
        args += ["--perms", "1777", "--dir", CONTAINER_HOME, "--chmod", "1777", CONTAINER_HOME]
    bwrap = bwrap_path()
    assert bwrap is not None
    return [
        *IGNORE_SIGTERM,
        bwrap,
        *bwrap_args,
        *_namespace_args(network),
        *_caps(identity),
        *args,
        "--chdir",
        workdir,
        "--",
        *identity_prefix(identity),
        *argv,
    ]


def _parents(target: str, made: set[str]) -> list[str]:
    """Mount points' parent directories, made 0755 where missing (bwrap would make them 0700,
    unreadable by a sandbox's uid); existing ones are left as they are."""
    args = []
    for parent in reversed(PurePosixPath(target).parents):
        text = str(parent)
        if text not in made:
            args += ["--perms", "0755", "--dir", text]
            made.add(text)
    return args


def _namespace_args(network: bool) -> list[str]:
    args = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--hostname", HOSTNAME]
    if not network:
        args.append("--unshare-net")
    return args


def identity_prefix(identity: Identity) -> list[str]:
    """The command that switches a sandbox to nobody inside the image (util-linux's setpriv,
    which Debian images have); the other identities stay root, with ``_caps``."""
    if identity is not Identity.SANDBOX:
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


def enter_prefix(identity: Identity) -> list[str]:
    """For a process that joins a running container's or sandbox's namespaces (``nsenter``, as
    root): the command that gives it the same user and capabilities as the payload there
    (util-linux's setpriv, in Debian images)."""
    if identity is Identity.SANDBOX:
        return identity_prefix(identity)
    keep = ",".join(f"+{c}" for c in _BUILD_CAPS if identity is Identity.BUILD) or ",".join(
        f"+{c}" for c in _CONTAINER_CAPS
    )
    return ["setpriv", "--inh-caps=-all", f"--bounding-set=-all,{keep}", "--no-new-privs", "--"]


def _caps(identity: Identity) -> list[str]:
    if identity is Identity.SANDBOX:
        return []  # setpriv drops them all
    args = ["--cap-drop", "ALL"]
    for cap in _BUILD_CAPS if identity is Identity.BUILD else _CONTAINER_CAPS:
        args += ["--cap-add", f"CAP_{cap.upper()}"]
    return args
