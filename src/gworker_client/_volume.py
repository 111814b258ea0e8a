"""``Volume``: a persistent, versioned file tree shared by containers and local code.

The control plane stores a volume as a manifest (path -> sha256, size, mode, mtime) over
content-addressed blobs, so the same content is stored once however often it is uploaded, and a
volume is usable from any node a container runs on. Transfers go in pieces of at most
``CHUNK_BYTES``: neither side holds a large file in memory at once.

Paths inside a volume are ``/``-separated and relative to its root; a leading ``/`` means the root
(``"/models/a.bin"`` and ``"models/a.bin"`` are the same file). ``..`` is refused everywhere.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import _api
from . import exception as exc
from ._aio import blocking, iterating
from ._object import _Object, request_id
from ._protocol.objects import ObjectKind

if TYPE_CHECKING:
    from ._volume_upload import VolumeUploadContextManager

# Files move in pieces of at most this many bytes per request; small files are batched up to it.
CHUNK_BYTES = 8 * 1024 * 1024
# Files up to this size travel inside a batch; larger ones on their own, chunk by chunk.
SMALL_FILE_BYTES = 1024 * 1024
# How many times a commit is retried when the server reports a blob gone (collected meanwhile).
COMMIT_ATTEMPTS = 3
MAX_PATH_LEN = 4096

Progress = Callable[[int], None]  # called with a number of bytes just moved


class FileEntryType(str, enum.Enum):
    """What ``listdir`` found at a path."""

    FILE = "file"
    DIRECTORY = "dir"


@dataclass(frozen=True)
class FileEntry:
    """One entry of ``Volume.listdir``: ``path`` is relative to the volume's root."""

    path: str
    type: FileEntryType
    mtime: float
    size: int


# -- paths -----------------------------------------------------------------------------------------


def path_problem(path: object, *, allow_root: bool = False) -> str | None:
    """Why ``path`` (as it travels to the server: relative, normalized) is not a valid volume
    path, or None. Used by both the SDK and the server."""
    if not isinstance(path, str):
        return f"volume path {path!r} must be a string"
    if path == "":
        return None if allow_root else "the volume root is not a file path here"
    if len(path) > MAX_PATH_LEN:
        return f"volume path of {len(path)} characters is longer than {MAX_PATH_LEN}"
    if "\0" in path:
        return f"volume path {path!r} contains a NUL character"
    if path.startswith("/"):
        return f"volume path {path!r} must be relative to the volume's root"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return (
                f"volume path {path!r} is not normalized: empty, '.' and '..' components are"
                " not allowed (a path cannot leave its volume)"
            )
    return None


def normalize(path: str | os.PathLike[str], *, allow_root: bool = False) -> str:
    """A user's volume path as the server wants it: ``"/a//b/"`` -> ``"a/b"``; ``".."`` refused."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise exc.InvalidError(f"volume path {path!r} must be a string")
    if "\0" in text:
        raise exc.InvalidError(f"volume path {text!r} contains a NUL character")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise exc.InvalidError(f"volume path {text!r} contains '..': paths cannot leave the volume")
    clean = "/".join(parts)
    problem = path_problem(clean, allow_root=allow_root)
    if problem:
        raise exc.InvalidError(problem)
    return clean


# -- hashing and transfers (shared with the container runtime) ----------------------------------


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a local file, read in pieces."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@dataclass
class Source:
    """Content to upload: a local file, or bytes already in memory."""

    sha256: str
    size: int
    path: str | None = None
    data: bytes | None = None

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")


def upload_blobs(
    client: _api.Client, vid: str, sources: Iterable[Source], progress: Progress | None = None
) -> None:
    """Upload whichever of ``sources`` the server does not have yet (each distinct one once)."""
    unique: dict[str, Source] = {}
    total = 0
    for s in sources:
        unique.setdefault(s.sha256, s)
        total += s.size
    if not unique:
        return
    missing = set(
        client.post(f"/v1/volumes/{vid}/blobs/missing", {"shas": list(unique)})["missing"]
    )
    if progress:  # content the server has already (or that repeats) counts as moved
        progress(total - sum(unique[sha].size for sha in missing))
    batch: list[list[Any]] = []
    batch_bytes = 0
    for sha in missing:
        source = unique[sha]
        if source.size > SMALL_FILE_BYTES:
            _upload_large(client, vid, source, progress)
            continue
        with source.open() as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != sha:
            raise exc.ExecutionError(f"{source.path or 'data'} changed while it was uploaded")
        if batch and batch_bytes + len(data) > CHUNK_BYTES:
            client.post(f"/v1/volumes/{vid}/blobs/put", {"blobs": batch}, timeout=600)
            batch, batch_bytes = [], 0
        batch.append([sha, data])
        batch_bytes += len(data)
        if progress:
            progress(len(data))
    if batch:
        client.post(f"/v1/volumes/{vid}/blobs/put", {"blobs": batch}, timeout=600)


def _upload_large(client: _api.Client, vid: str, source: Source, progress: Progress | None) -> None:
    upload_id = request_id()
    offset = 0
    with source.open() as f:
        while True:
            data = f.read(CHUNK_BYTES)
            final = offset + len(data) >= source.size or not data
            client.post(
                f"/v1/volumes/{vid}/blobs/upload",
                {
                    "sha": source.sha256,
                    "upload_id": upload_id,
                    "offset": offset,
                    "data": data,
                    "final": final,
                },
                timeout=600,
            )
            offset += len(data)
            if progress and data:
                progress(len(data))
            if final:
                return


def read_blob(
    client: _api.Client, vid: str, sha: str, size: int, progress: Progress | None = None
) -> Iterator[bytes]:
    """A blob's bytes in pieces of at most ``CHUNK_BYTES``."""
    offset = 0
    while offset < size:
        data = client.post(
            f"/v1/volumes/{vid}/blobs/read",
            {"sha": sha, "offset": offset, "length": min(CHUNK_BYTES, size - offset)},
            timeout=600,
        )
        if not data:
            raise exc.ExecutionError(f"volume blob {sha} ended at {offset} of {size} bytes")
        offset += len(data)
        if progress:
            progress(len(data))
        yield data


def download_files(
    client: _api.Client,
    vid: str,
    files: list[tuple[Path, str, int]],
    progress: Progress | None = None,
) -> None:
    """Write each ``(destination, sha256, size)``; small blobs come several per request."""
    small: dict[str, list[Path]] = {}
    for dest, sha, size in files:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if size > SMALL_FILE_BYTES:
            _write_atomic(dest, read_blob(client, vid, sha, size, progress))
        else:
            small.setdefault(sha, []).append(dest)
    sizes = {sha: size for _, sha, size in files}
    batch: list[str] = []
    batch_bytes = 0
    for sha in small:
        if batch and batch_bytes + sizes[sha] > CHUNK_BYTES:
            _fetch_batch(client, vid, batch, small, progress)
            batch, batch_bytes = [], 0
        batch.append(sha)
        batch_bytes += sizes[sha]
    if batch:
        _fetch_batch(client, vid, batch, small, progress)


def _fetch_batch(
    client: _api.Client,
    vid: str,
    shas: list[str],
    dests: dict[str, list[Path]],
    progress: Progress | None,
) -> None:
    blobs = client.post(f"/v1/volumes/{vid}/blobs/get", {"shas": shas}, timeout=600)["blobs"]
    for sha, data in blobs:
        for dest in dests[sha]:
            _write_atomic(dest, [data])
        if progress:
            progress(len(data))


def _write_atomic(dest: Path, chunks: Iterable[bytes]) -> None:
    tmp = dest.with_name(f".{dest.name}.gw-{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def commit_changes(
    client: _api.Client,
    vid: str,
    changes: list[tuple[str, Source, int, float]],
    deletions: Iterable[str] = (),
    *,
    if_absent: bool = False,
    progress: Progress | None = None,
) -> int:
    """Upload what the server lacks, then record ``changes`` (path, content, mode, mtime) and
    ``deletions`` as one new version of the volume; return that version."""
    commit_id = request_id()
    body = {
        "id": commit_id,
        "changes": [[p, s.sha256, s.size, mode, mtime] for p, s, mode, mtime in changes],
        "deletions": list(deletions),
        "if_absent": if_absent,
    }
    if if_absent:  # refuse before uploading anything
        client.post(f"/v1/volumes/{vid}/check_absent", {"paths": [c[0] for c in changes]})
    upload_blobs(client, vid, [s for _, s, _, _ in changes], progress)
    for _ in range(COMMIT_ATTEMPTS):
        resp = client.post(f"/v1/volumes/{vid}/commit", body, timeout=600)
        if not resp["missing"]:
            return int(resp["version"])
        # another commit removed the last use of a blob between our upload and our commit
        missing = set(resp["missing"])
        upload_blobs(client, vid, [s for _, s, _, _ in changes if s.sha256 in missing])
    raise exc.ExecutionError(f"could not commit to volume {vid}: its blobs kept disappearing")


# -- the handle ------------------------------------------------------------------------------------


class Volume(_Object):
    """A persistent file tree, mounted into containers and usable from local code.

    ::

        vol = gw.Volume.from_name("data", create_if_missing=True)

        @app.function(volumes={"/data": vol})
        def train():
            with open("/data/checkpoint.pt", "wb") as f: ...
            vol.commit()        # publish this container's writes
            vol.reload()        # see what other containers committed since

        with vol.batch_upload() as batch:            # from local code
            batch.put_file("weights.bin", "/models/weights.bin")
            batch.put_directory("dataset/", "/dataset")
        [e.path for e in vol.listdir("/models")]
        b"".join(vol.read_file("/models/weights.bin"))
        vol.remove_file("/dataset", recursive=True)

    In a container, the files under the mount path are the volume's committed contents when the
    container starts. ``commit()`` publishes the container's changes (new, changed and deleted
    files); ``reload()`` brings in other containers' commits; a container that exits gracefully
    commits what it left uncommitted.

    Concurrent writers: a commit sends only the changes made since the version its container
    started from (or last committed or reloaded), and the server merges them into the newest
    version. Commits that touch different files never lose each other's writes; when two commits
    change the same file, the one that reaches the server last wins (last writer wins), and a
    deletion counts as a change. On ``reload()``, a file another container changed replaces this
    container's uncommitted edits of that file; other uncommitted edits are kept.

    Paths are relative to the volume's root (a leading ``/`` means the root) and may not contain
    ``..``; a symlink in a mounted directory that points outside it is refused at commit.
    Only files are stored: an empty directory is not kept.
    """

    _kind = ObjectKind.VOLUME

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: int | None = None,
    ) -> Volume:
        """A handle on the named volume, looked up on first use (see ``Dict.from_name``).

        ``version``: Modal's volume format, 1 or 2. gworker has one kind of volume, whose
        commits merge file by file, so it gives what both promise (concurrent writers of
        different files); either is accepted.
        """
        if version not in (None, 1, 2) or isinstance(version, bool):
            raise exc.InvalidError(
                f"Volume.from_name({name!r}, version={version!r}): version is 1, 2 or None"
            )
        return super().from_name(
            name, environment_name=environment_name, create_if_missing=create_if_missing
        )

    # -- reading ---------------------------------------------------------------------------------

    @blocking
    def listdir(self, path: str = "/", *, recursive: bool = False) -> list[FileEntry]:
        """The entries under ``path`` (files and directories), or the file itself if ``path``
        is one. ``NotFoundError`` if nothing is there."""
        clean = normalize(path, allow_root=True)
        resp = _api.client().post(self._url("listdir"), {"path": clean, "recursive": recursive})
        return [
            FileEntry(p, FileEntryType(t), float(mtime), int(size))
            for p, t, size, mtime in resp["entries"]
        ]

    @iterating
    def iterdir(self, path: str = "/", *, recursive: bool = True) -> Iterator[FileEntry]:
        """Like ``listdir``, recursive by default, as an iterator."""
        yield from self.listdir(path, recursive=recursive)

    def _stat(self, path: str) -> dict[str, Any]:
        return _api.client().post(self._url("stat"), {"path": normalize(path)})

    @iterating
    def read_file(self, path: str) -> Iterator[bytes]:
        """The file's content in pieces of bytes: ``b"".join(vol.read_file("a.txt"))``.

        ``NotFoundError`` at once if there is no such file."""
        info = self._stat(path)
        return read_blob(_api.client(), self.object_id, info["sha256"], int(info["size"]))

    @blocking
    def read_file_into_fileobj(self, path: str, fileobj: IO[bytes]) -> int:
        """Write the file's content into ``fileobj``; return the number of bytes."""
        n = 0
        for chunk in self.read_file(path):
            fileobj.write(chunk)
            n += len(chunk)
        return n

    # -- writing from outside containers ---------------------------------------------------------

    @blocking
    def remove_file(self, path: str, *, recursive: bool = False) -> None:
        """Delete a file, or a directory and everything under it with ``recursive=True``."""
        clean = normalize(path)
        _api.client().post(
            self._url("remove"), {"path": clean, "recursive": recursive, "id": request_id()}
        )

    def batch_upload(self, force: bool = False) -> VolumeUploadContextManager:
        """Upload files and directories as one commit when the ``with`` (or ``async with``)
        block ends.

        Without ``force``, a path that exists in the volume already makes the whole batch fail
        with ``AlreadyExistsError`` and nothing is written."""
        from ._volume_upload import VolumeUploadContextManager

        return VolumeUploadContextManager(self, force)

    # -- in containers ---------------------------------------------------------------------------

    @blocking
    def commit(self) -> None:
        """Publish this container's changes under the volume's mount path (in a container)."""
        for mount in self._mounts("commit"):
            mount.commit()

    @blocking
    def reload(self) -> None:
        """Bring in the changes other containers committed since this one's last
        commit or reload (in a container)."""
        for mount in self._mounts("reload"):
            mount.reload()

    def _mounts(self, action: str) -> list[Any]:
        from ._runtime import volumes as runtime

        if not runtime.in_container():
            raise exc.InvalidError(
                f"Volume.{action}() is for code running in a container that mounts the volume"
                " (@app.function(volumes={path: vol})). Outside containers, batch_upload() and"
                " remove_file() commit at once, and reads always see the newest version."
            )
        mounts = runtime.mounts_of(self.object_id)
        if not mounts:
            raise exc.InvalidError(
                f"{self!r} is not mounted in this container; mount it with"
                " @app.function(volumes={'/path': vol})"
            )
        return mounts
