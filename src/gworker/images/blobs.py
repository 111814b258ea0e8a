"""A local, content-addressed copy of the blobs images need (files, build functions).

Entries are immutable and keyed by sha256 and file mode, because layer trees hard-link them and a
mode belongs to the inode. Every fetched blob is checked against its digest before it is kept.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from .errors import BuildError


class BlobCache:
    def __init__(self, root: Path, fetch: Callable[[str], bytes]) -> None:
        self.root = root
        self._fetch = fetch

    def path(self, sha256: str, mode: int = 0o644) -> Path:
        dest = self.root / f"{sha256}.{mode:o}"
        if dest.exists():
            return dest
        try:
            data = self._fetch(sha256)
        except Exception as e:
            raise BuildError(f"blob {sha256} is not on the server: {e}") from e
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BuildError(f"blob {sha256} does not match its digest: upload it again")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
        return dest
