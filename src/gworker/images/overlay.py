"""An image's root filesystem for one process tree: its layers under overlayfs, plus a private
writable upper directory.

The overlay is mounted in the child between fork and exec (``Rootfs.mount_in_child``), inside a
mount namespace of its own: nothing appears in the host's mount table, nothing needs unmounting,
and the mount ends with the last process that uses it, however the container dies. bubblewrap
then takes the mounted tree as its ``/``. Costs one ``unshare`` and one ``mount`` call (well
under a millisecond); it needs root (``CAP_SYS_ADMIN``), as the local backend runs.

Layer paths are given relative to the layers directory (the child changes into it first): the
mount options must fit one page, and short names let an image have about sixty layers.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_MAX_OPTIONS = 4000


class RootfsError(RuntimeError):
    """The image's root filesystem could not be assembled."""


@dataclass(frozen=True)
class Rootfs:
    """Layers ``lowers`` (digests in ``layers_dir``, bottom first) mounted at ``merged``.

    The writable layer is ``upper`` when given (a build step's new layer, on disk); otherwise a
    tmpfs mounted over ``scratch`` in the child's namespace holds it, so a container's writes
    are charged to its memory cgroup and vanish with it, and nothing on the host needs removing
    (as ``/tmp`` and ``$HOME`` were tmpfs before images had a root). ``scratch`` is any existing
    directory: the tmpfs hides it from that child alone."""

    layers_dir: Path
    lowers: tuple[str, ...]
    scratch: Path
    upper: Path | None = None
    # the tmpfs's size (a container's ephemeral_disk): past it, writes fail with ENOSPC;
    # None: tmpfs's default, bounded by the container's memory limit
    size_mib: int | None = None

    @property
    def merged(self) -> Path:
        return self.scratch / "merged"

    def options(self) -> bytes:
        upper = self.upper or self.scratch / "upper"
        # overlayfs lists lower layers top first
        lower = ":".join(reversed(self.lowers))
        text = f"lowerdir={lower},upperdir={upper},workdir={self.scratch / 'work'}"
        # the layer format is plain upper directories: no redirect or metacopy xattrs in them
        text += ",redirect_dir=off,metacopy=off,index=off"
        if len(text) > _MAX_OPTIONS:
            raise RootfsError(
                f"an image of {len(self.lowers)} layers is more than overlayfs can mount at once;"
                " merge build steps (one run_commands with several commands, one pip_install with"
                " several packages)"
            )
        return text.encode()

    def mount_in_child(self) -> None:
        """Call in the child after fork (a ``preexec_fn``): a private mount namespace with the
        overlay mounted at ``merged``. Raises OSError with the kernel's reason."""
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(_CLONE_NEWNS) != 0:
            _fail(libc, "unshare(CLONE_NEWNS)")
        if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
            _fail(libc, "making mounts private")
        scratch = str(self.scratch).encode()
        tmpfs = "mode=0755" + (f",size={self.size_mib}m" if self.size_mib else "")
        if self.upper is None and libc.mount(b"tmpfs", scratch, b"tmpfs", 0, tmpfs.encode()) != 0:
            _fail(libc, f"mount -t tmpfs -o {tmpfs} {self.scratch}")
        for sub in ("upper", "work", "merged"):
            os.makedirs(self.scratch / sub, mode=0o755, exist_ok=True)
        os.chdir(self.layers_dir)
        options = self.options()
        if libc.mount(b"overlay", str(self.merged).encode(), b"overlay", 0, options) != 0:
            _fail(libc, f"mount -t overlay ({options.decode()})")
        os.chdir("/")


def _fail(libc: ctypes.CDLL, what: str) -> None:
    errno = ctypes.get_errno()
    raise OSError(errno, f"{what}: {os.strerror(errno)}")
