"""Layer tars <-> overlayfs upper directories: the one place that knows both formats.

An OCI layer is a tar whose deletions are marker files (``.wh.NAME`` hides ``NAME`` from the layers
below, ``.wh..wh..opq`` hides a directory's whole lower contents). Overlayfs spells the same things
as a character device 0:0 named ``NAME`` and the xattr ``trusted.overlay.opaque=y`` on the
directory. Layers are kept unpacked in the overlayfs form so that a container's root is one mount.

    unpack(stream, dest) -> diff_id      a tar stream (uncompressed) into a new directory
    pack(src, out) -> diff_id            an overlay-format directory into an uncompressed tar

A layer comes from a registry, so its tar is untrusted: members may not be absolute, climb out
with ``..``, pass through a symlink, or hard-link to anything but a regular file of the same layer;
any of these fails the whole layer (``LayerError``) rather than being quietly rewritten. Both
directions need root: whiteouts are device nodes and the opaque mark is a ``trusted.`` xattr.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from pathlib import Path, PurePosixPath
from typing import IO

from .errors import BuildError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_PAX_XATTR = "SCHILY.xattr."
# xattrs a layer may carry into the image (file capabilities, ACLs); never overlay's own.
XATTR_PREFIXES = ("security.", "user.", "system.posix_acl")


class LayerError(BuildError):
    """A layer tar is malformed or unsafe to unpack; the message names the member."""


class _Hashing:
    """A read-only stream that hashes what passes through, so the diff_id costs no second read."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return "sha256:" + self.sha.hexdigest()


def _member_path(name: str) -> PurePosixPath | None:
    """The member's path relative to the layer root; None for the root itself."""
    if name.startswith("/"):
        raise LayerError(f"layer member {name!r} has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"layer member {name!r} climbs out of the layer with '..'")
    return PurePosixPath(*parts) if parts else None


def _parent_dir(dest: Path, rel: PurePosixPath) -> Path:
    """Create the parents of ``rel`` under ``dest`` as real directories, refusing symlinks: a
    member written through a symlink of the same layer could land anywhere on the host."""
    cur = dest
    for part in rel.parts[:-1]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            os.mkdir(cur, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise LayerError(f"layer member {str(rel)!r} passes through the symlink {part!r}")
        if not stat.S_ISDIR(st.st_mode):
            raise LayerError(
                f"layer member {str(rel)!r} is under {part!r}, which is not a directory"
            )
    return cur


def _clear(path: Path) -> None:
    """Remove what a later member replaces (tar semantics: the last entry for a path wins)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        return  # a directory entry for an existing directory only updates its metadata
    os.unlink(path)


def _apply_metadata(path: Path, m: tarfile.TarInfo) -> None:
    # chown before chmod: chown clears setuid/setgid bits.
    os.lchown(path, m.uid, m.gid)
    for key, value in m.pax_headers.items():
        if key.startswith(_PAX_XATTR) and not m.issym():  # Linux keeps no user xattrs on links
            attr = key[len(_PAX_XATTR) :]
            if attr.startswith(XATTR_PREFIXES):
                raw = value.encode("utf-8", "surrogateescape")
                os.setxattr(path, attr, raw, follow_symlinks=False)
    if not m.issym():
        os.chmod(path, stat.S_IMODE(m.mode))
    os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)


def _extract(
    tf: tarfile.TarFile, m: tarfile.TarInfo, dest: Path, dirs: list[tuple[Path, tarfile.TarInfo]]
) -> None:
    rel = _member_path(m.name)
    if rel is None:
        if m.isdir():
            dirs.append((dest, m))
        return
    parent = _parent_dir(dest, rel)
    name = rel.name
    if name == OPAQUE:
        os.setxattr(parent, OPAQUE_XATTR, b"y")
        return
    if name.startswith(WHITEOUT + WHITEOUT):
        return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the filesystem
    if name.startswith(WHITEOUT):
        target = parent / name[len(WHITEOUT) :]
        _clear(target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    path = parent / name
    _clear(path)
    if m.isdir():
        if not path.exists():
            os.mkdir(path, 0o755)
        dirs.append((path, m))  # metadata after the contents, or a read-only dir blocks them
        return
    if m.isreg():
        src = tf.extractfile(m)
        assert src is not None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    elif m.issym():
        os.symlink(m.linkname, path)
    elif m.islnk():
        link = _member_path(m.linkname)
        if link is None:
            raise LayerError(f"layer member {m.name!r} hard-links to the layer root")
        target = _parent_dir(dest, link) / link.name
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise LayerError(
                f"layer member {m.name!r} hard-links to {m.linkname!r}, which is not earlier in"
                " the same layer"
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise LayerError(f"layer member {m.name!r} hard-links to non-file {m.linkname!r}")
        os.link(target, path)
        return  # a hard link shares its target's inode and metadata
    elif m.ischr() or m.isblk() or m.isfifo():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
        os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
    else:
        raise LayerError(f"layer member {m.name!r} has an unsupported tar type {m.type!r}")
    _apply_metadata(path, m)


def unpack(stream: IO[bytes], dest: Path) -> str:
    """Unpack an uncompressed layer tar from ``stream`` into the empty directory ``dest`` in
    overlayfs form; return its diff_id (``sha256:`` + the tar's own digest)."""
    hashing = _Hashing(stream)
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=hashing, mode="r|") as tf:  # type: ignore[call-overload]
            for m in tf:
                try:
                    _extract(tf, m, dest, dirs)
                except PermissionError as e:
                    raise LayerError(
                        "unpacking a layer needs root (whiteouts are device nodes, the opaque"
                        f" mark a trusted xattr): {e}"
                    ) from None
                except OSError as e:
                    raise LayerError(
                        f"layer member {m.name!r} could not be unpacked: {e}"
                    ) from None
    except tarfile.TarError as e:
        raise LayerError(f"layer is not a valid tar: {e}") from None
    for path, m in reversed(dirs):  # deepest first, so a parent's mtime is set last
        _apply_metadata(path, m)
    return hashing.drain()


def _tarinfo(
    tf: tarfile.TarFile, path: Path, arcname: str, inodes: dict[tuple[int, int], str]
) -> tarfile.TarInfo | None:
    st = os.lstat(path)
    info = tf.gettarinfo(str(path), arcname)
    if info is None:
        return None
    info.uname = info.gname = ""  # ids are what the image means; host names would be noise
    key = (st.st_dev, st.st_ino)
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        if key in inodes:
            info.type, info.linkname, info.size = tarfile.LNKTYPE, inodes[key], 0
        else:
            inodes[key] = arcname
    xattrs = {}
    for attr in os.listxattr(path, follow_symlinks=False):
        if attr.startswith(XATTR_PREFIXES):
            raw = os.getxattr(path, attr, follow_symlinks=False)
            xattrs[_PAX_XATTR + attr] = raw.decode("utf-8", "surrogateescape")
    info.pax_headers = xattrs
    return info


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def pack(src: Path, out: IO[bytes]) -> str:
    """Write the overlay-format directory ``src`` as an uncompressed layer tar to ``out`` (sorted,
    so the same tree always gives the same diff_id); return the diff_id."""
    digest = hashlib.sha256()

    class _Sink:
        def write(self, data: bytes) -> int:
            digest.update(data)
            return out.write(data)

    inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=_Sink(), mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            base = Path(dirpath)
            rel = base.relative_to(src)
            prefix = "" if rel == Path(".") else f"{rel.as_posix()}/"
            if prefix:
                dir_info = _tarinfo(tf, base, prefix.rstrip("/"), inodes)
                assert dir_info is not None
                tf.addfile(dir_info)
            if _has_opaque(base):
                tf.addfile(_marker(f"{prefix}{OPAQUE}"))
            for name in sorted(filenames + [d for d in dirnames if (base / d).is_symlink()]):
                path = base / name
                st = os.lstat(path)
                if _is_whiteout(st):
                    tf.addfile(_marker(f"{prefix}{WHITEOUT}{name}"))
                    continue
                info = _tarinfo(tf, path, prefix + name, inodes)
                if info is None:
                    continue  # a socket: not something an image can carry
                if info.isreg():
                    with open(path, "rb") as f:
                        tf.addfile(info, f)
                else:
                    tf.addfile(info)
    return "sha256:" + digest.hexdigest()


def _has_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _marker(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info
