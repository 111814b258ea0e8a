"""``NetworkFileSystem``: a shared directory that every container mounting it sees at once.

Modal's older shared storage, kept for the apps that use it. Unlike a ``Volume`` there is no
commit or reload: a file written in one container is there for every other container (and for
``read_file`` from outside) as soon as it is closed, as on a network file system.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from . import _api
from ._aio import blocking, iterating
from ._object import _Object
from ._protocol.objects import ObjectKind
from ._volume import FileEntry, FileEntryType, normalize

# One request carries at most this much of a file (the server's limit).
CHUNK_BYTES = 8 * 1024 * 1024


class NetworkFileSystem(_Object):
    """A shared, writable directory mounted into containers: writes are visible to all at once.

    ::

        nfs = gw.NetworkFileSystem.from_name("cache", create_if_missing=True)

        @app.function(network_file_systems={"/cache": nfs})
        def work(i):
            with open(f"/cache/{i}.txt", "w") as f:   # every container sees it at once
                f.write(str(i))

        nfs.write_file("config.json", open("config.json", "rb"))     # from local code
        b"".join(nfs.read_file("0.txt"))
        [e.path for e in nfs.listdir("/")]
        nfs.remove_file("old", recursive=True)

    Two containers writing the same file at once interleave as on any shared disk: coordinate
    (one writer per file, or write to a temporary name and rename) where that matters.
    ``gw nfs`` is the command line.
    """

    _kind = ObjectKind.NFS

    def _post(self, action: str, req: dict[str, Any]) -> Any:
        return _api.client().post(self._url(action), req)

    @blocking
    def write_file(self, remote_path: str, fp: IO[bytes]) -> int:
        """Write the contents of the binary file object ``fp`` to ``remote_path``, atomically
        (readers see the old file or the new one, never half of it); parent directories are
        created. A path ending in ``/`` is a directory: the file keeps its own name there.
        Returns the number of bytes written."""
        if remote_path.endswith("/"):
            remote_path += Path(getattr(fp, "name", "file")).name
        path = normalize(remote_path)
        upload, offset = uuid.uuid4().hex, 0
        while True:
            data = fp.read(CHUNK_BYTES)
            last = len(data) < CHUNK_BYTES
            req = {"path": path, "data": data, "upload": upload, "offset": offset, "last": last}
            self._post("write", req)
            offset += len(data)
            if last:
                return offset

    @iterating
    def read_file(self, path: str) -> Iterator[bytes]:
        """The file's content, in pieces: ``b"".join(nfs.read_file("a.txt"))``.
        ``NotFoundError`` if there is no such file."""
        clean = normalize(path)
        first = self._post("read", {"path": clean, "offset": 0})
        return _chunks(self, clean, first)

    @iterating
    def iterdir(self, path: str = "/", *, recursive: bool = False) -> Iterator[FileEntry]:
        """Like ``listdir``, as an iterator."""
        yield from self.listdir(path, recursive=recursive)

    @blocking
    def listdir(self, path: str = "/", *, recursive: bool = False) -> list[FileEntry]:
        """The entries of the directory ``path`` (paths relative to the root), the file itself
        if ``path`` is one, or what a glob with ``*``/``**`` matches. ``NotFoundError`` if
        nothing is there."""
        clean = path.strip("/") if "*" in path else normalize(path, allow_root=True)
        resp = self._post("listdir", {"path": clean, "recursive": recursive})
        return [
            FileEntry(p, FileEntryType(t), float(mtime), int(size))
            for p, t, size, mtime in resp["entries"]
        ]

    @blocking
    def remove_file(self, path: str, recursive: bool = False) -> None:
        """Delete a file, or a directory and everything in it with ``recursive=True``."""
        self._post("remove", {"path": normalize(path), "recursive": recursive})

    @blocking
    def add_local_file(
        self, local_path: str | os.PathLike[str], remote_path: str | None = None
    ) -> int:
        """Upload one local file (to ``/<its name>`` unless ``remote_path`` says where)."""
        local = Path(local_path)
        with local.open("rb") as f:
            return self.write_file(remote_path or f"/{local.name}", f)

    @blocking
    def add_local_dir(
        self, local_path: str | os.PathLike[str], remote_path: str | None = None
    ) -> None:
        """Upload a local directory's files (to ``/<its name>`` unless ``remote_path``)."""
        local = Path(local_path)
        if not local.is_dir():
            raise NotADirectoryError(f"{local} is not a directory")
        base = PurePosixPath(remote_path or f"/{local.name}")
        for file in sorted(p for p in local.rglob("*") if p.is_file()):
            with file.open("rb") as f:
                self.write_file(str(base / file.relative_to(local).as_posix()), f)


def _chunks(nfs: NetworkFileSystem, path: str, first: dict[str, Any]) -> Iterator[bytes]:
    data, size = first["data"], int(first["size"])
    offset = len(data)
    if data:
        yield data
    while offset < size:
        data = nfs._post("read", {"path": path, "offset": offset})["data"]
        if not data:  # the file shrank while it was read
            return
        offset += len(data)
        yield data
