"""``Volume.batch_upload()``: local files and directories queued, then uploaded as one commit."""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import _api
from . import exception as exc
from ._aio import blocking, to_thread
from ._volume import Progress, Source, commit_changes, file_digest, normalize

if TYPE_CHECKING:
    from ._volume import Volume


class VolumeUploadContextManager:
    """What ``Volume.batch_upload()`` returns: queue files with ``put_file``/``put_directory``;
    they are uploaded and committed together when the ``with`` block exits without an error."""

    def __init__(self, volume: Volume, force: bool) -> None:
        self._volume = volume
        self._force = force
        self._items: dict[str, tuple[Source, int, float]] = {}
        self.progress: Progress | None = None  # the CLI sets it to draw a progress bar

    def __enter__(self) -> VolumeUploadContextManager:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        if exc_type is None:
            self.upload()

    async def __aenter__(self) -> VolumeUploadContextManager:
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        await to_thread(self.__exit__, exc_type, exc_value, tb)

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s, _, _ in self._items.values())

    def put_file(
        self,
        local_file: str | os.PathLike[str] | IO[bytes],
        remote_path: str,
        mode: int | None = None,
    ) -> None:
        """Queue one file (a local path or a binary file object) for ``remote_path``; a
        ``remote_path`` ending in ``/`` is a directory to put it in under its own name."""
        if isinstance(local_file, (str, os.PathLike)):
            local = Path(local_file)
            if not local.is_file():
                raise exc.InvalidError(f"put_file: {str(local)!r} is not a file")
            if str(remote_path).endswith("/"):
                remote_path = f"{remote_path}{local.name}"
            st = local.stat()
            sha, size = file_digest(local)
            source = Source(sha, size, path=str(local))
            self._add(remote_path, source, mode or stat_mod.S_IMODE(st.st_mode), st.st_mtime)
            return
        if not hasattr(local_file, "read"):
            raise exc.InvalidError(f"put_file: {local_file!r} is neither a path nor a file object")
        data = local_file.read()
        if not isinstance(data, bytes):
            raise exc.InvalidError("put_file: the file object must be opened in binary mode")
        source = Source(hashlib.sha256(data).hexdigest(), len(data), data=data)
        self._add(remote_path, source, mode or 0o644, time.time())

    def put_directory(
        self, local_path: str | os.PathLike[str], remote_path: str, recursive: bool = True
    ) -> None:
        """Queue every file under ``local_path`` for the same relative path under
        ``remote_path``. Symlinks are followed only to files inside ``local_path``."""
        root = Path(local_path)
        if not root.is_dir():
            raise exc.InvalidError(f"put_directory: {str(root)!r} is not a directory")
        base = normalize(remote_path, allow_root=True)
        real_root = root.resolve()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            if not recursive:
                dirnames.clear()
            for name in sorted(filenames):
                local = Path(dirpath, name)
                if local.is_symlink() and not _inside(local.resolve(), real_root):
                    raise exc.InvalidError(
                        f"put_directory: {str(local)!r} is a symlink to"
                        f" {str(local.resolve())!r}, outside {str(root)!r}"
                    )
                if not local.is_file():
                    continue
                rel = local.relative_to(root).as_posix()
                self.put_file(local, f"{base}/{rel}" if base else rel)

    def _add(self, remote_path: str, source: Source, mode: int, mtime: float) -> None:
        self._items[normalize(remote_path)] = (source, mode & 0o7777, mtime)

    @blocking
    def upload(self) -> None:
        """Upload and commit what was queued (the ``with`` block's exit does it)."""
        vol = self._volume
        changes = [(p, s, mode, mtime) for p, (s, mode, mtime) in sorted(self._items.items())]
        if not changes:
            return
        commit_changes(
            _api.client(),
            vol.object_id,
            changes,
            if_absent=not self._force,
            progress=self.progress,
        )


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
