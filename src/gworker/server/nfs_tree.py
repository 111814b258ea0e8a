"""A network file system's directory tree, reached only through file descriptors.

Containers have the directory mounted read-write and can swap any folder in it for a symlink
at any moment, so a path checked once and used later is not safe (a server running as root
would then read, write, chown or delete what the symlink names). Every operation here starts
from an fd of the root, opens one component at a time with ``O_NOFOLLOW``, and acts relative to
the last fd (``dir_fd=``): a symlink anywhere on the way is refused, never followed. Ownership
is given on fds, never by path.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import isolation
from .errors import InvalidRequest, NotFound

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO a container made must not hang the server's read.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_WILDCARDS = frozenset("*?[")


def entry(rel: str, st: os.stat_result) -> list[Any]:
    """One listing row: path, "dir" or "file" (a symlink is listed as the link itself), size,
    mtime."""
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
    return [rel, kind, st.st_size if kind == "file" else 0, st.st_mtime]


class Tree:
    """The tree under ``root``; ``label`` names it in errors."""

    def __init__(self, root: Path, label: str) -> None:
        self.root, self.label = root, label

    # -- walking ---------------------------------------------------------------------------------

    def _step(self, fd: int, part: str, path: str, create: bool) -> int:
        """The fd of directory ``part`` under ``fd`` (closing ``fd``), made if ``create``."""
        try:
            try:
                return os.open(part, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise NotFound(f"{self.label} has nothing at {path!r}") from None
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                made = True
            except FileExistsError:  # made meanwhile by a container: open it as theirs
                made = False
            sub = os.open(part, _DIR, dir_fd=fd)
            if made:
                isolation.hand_over_fd(sub)  # containers may write in what the server made
            return sub
        except OSError as e:
            if e.errno in (errno.ENOTDIR, errno.ELOOP):
                raise InvalidRequest(
                    f"{path!r}: {part!r} is not a directory (symlinks are not followed)"
                ) from None
            raise
        finally:
            os.close(fd)

    @contextmanager
    def parent(self, path: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """The fd of the directory that holds ``path``'s last component, and that component
        (``"."`` for the root itself); missing directories are made when ``create``."""
        parts = path.split("/") if path else []
        fd = os.open(self.root, _DIR)
        try:
            for part in parts[:-1]:
                fd, old = -1, fd
                fd = self._step(old, part, path, create)
            yield fd, parts[-1] if parts else "."
        finally:
            if fd >= 0:
                os.close(fd)

    @contextmanager
    def directory(self, path: str) -> Iterator[int]:
        """An fd of the directory at ``path`` (the root for ``""``)."""
        with self.parent(path) as (pfd, name):
            fd = self._step(os.dup(pfd), name, path, False) if path else os.dup(pfd)
        try:
            yield fd
        finally:
            os.close(fd)

    def lstat(self, pfd: int, name: str, path: str) -> os.stat_result:
        try:
            return os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise NotFound(f"{self.label} has nothing at {path!r}") from None

    # -- operations ------------------------------------------------------------------------------

    def read(self, path: str, offset: int, length: int) -> tuple[bytes, int]:
        """Up to ``length`` bytes at ``offset`` of the file at ``path``, and its size."""
        try:
            with self.parent(path) as (pfd, name):
                fd = os.open(name, _FILE, dir_fd=pfd)
        except (FileNotFoundError, NotFound):
            raise NotFound(f"{self.label} has no file {path!r}") from None
        except OSError as e:
            raise InvalidRequest(f"{path!r} cannot be read: {e.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidRequest(f"{path!r} is not a file")
            return os.pread(fd, length, offset), st.st_size
        finally:
            os.close(fd)

    def place(self, path: str, partial_fd: int, uploads_fd: int, partial: str) -> None:
        """Move the finished upload ``partial`` (in the directory ``uploads_fd``, which containers
        cannot reach) to ``path``, making its parents. It is given to the containers' user while
        still out of their reach, on its fd: nothing is chowned by path."""
        with self.parent(path, create=True) as (pfd, name):
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise InvalidRequest(f"{path!r} is a directory")
            isolation.hand_over_fd(partial_fd)
            try:
                os.replace(partial, name, src_dir_fd=uploads_fd, dst_dir_fd=pfd)
            except OSError as e:  # a container put a directory there meanwhile
                raise InvalidRequest(f"{path!r} cannot be written: {e.strerror}") from None

    def remove(self, path: str, *, recursive: bool) -> None:
        with self.parent(path) as (pfd, name):
            st = self.lstat(pfd, name, path)
            try:
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=pfd)  # a symlink goes, not what it names
                elif not recursive:
                    raise InvalidRequest(
                        f"{path!r} is a directory: pass recursive=True to remove it and its files"
                    )
                else:
                    shutil.rmtree(name, dir_fd=pfd)  # type: ignore[call-arg]  # fd-based, no symlinks
            except FileNotFoundError:
                raise NotFound(f"{self.label} has nothing at {path!r}") from None
            except OSError as e:
                raise InvalidRequest(f"{path!r} cannot be removed: {e.strerror}") from None

    def entries(self, path: str, *, recursive: bool) -> list[list[Any]]:
        """A directory's entries (everything below with ``recursive``), or a file's own."""
        with self.parent(path) as (pfd, name):
            st = self.lstat(pfd, name, path) if path else os.fstat(pfd)
            if not stat.S_ISDIR(st.st_mode):
                return [entry(path, st)]
        with self.directory(path) as fd:
            return sorted(self._walk(fd, path, 1_000_000 if recursive else 1), key=_order)

    def glob(self, pattern: str) -> list[list[Any]]:
        """What ``pattern`` (``*``, ``?``, ``[...]`` in a component; ``**`` for any number of
        directories) matches, walking only below its literal leading directories."""
        parts = pattern.split("/")
        fixed = 0
        while fixed < len(parts) - 1 and not _WILDCARDS & set(parts[fixed]):
            fixed += 1
        prefix, rest = "/".join(parts[:fixed]), parts[fixed:]
        depth = 1_000_000 if "**" in rest else len(rest)
        try:
            with self.directory(prefix) as fd:
                found = self._walk(fd, prefix, depth)
        except (NotFound, InvalidRequest):
            return []
        cut = len(prefix) + 1 if prefix else 0
        return sorted((e for e in found if _matches(e[0][cut:].split("/"), rest)), key=_order)

    def _walk(self, fd: int, rel: str, depth: int) -> list[list[Any]]:
        out = []
        with os.scandir(fd) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                child = f"{rel}/{e.name}" if rel else e.name
                out.append(entry(child, st))
                if depth > 1 and stat.S_ISDIR(st.st_mode):
                    try:
                        sub = os.open(e.name, _DIR, dir_fd=fd)
                    except OSError:  # swapped for a symlink or removed meanwhile: skip it
                        continue
                    try:
                        out += self._walk(sub, child, depth - 1)
                    finally:
                        os.close(sub)
        return out


def _order(e: list[Any]) -> tuple[str, ...]:
    return tuple(e[0].split("/"))  # as pathlib sorts: a directory right before its contents


def _matches(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], pattern[0])
        and _matches(parts[1:], pattern[1:])
    )
