"""``LayerStore``: the layers and images of one ``GW_HOME``, as directories and JSON records.

The layer format is overlayfs's upper directory (shared with ``oci.py``): a layer is a directory
tree whose whiteouts are character devices 0:0 and whose opaque directories carry the xattr
``trusted.overlay.opaque=y``, identified by a sha256 hex digest. An image is an ordered list of
layer digests, bottom first, plus its config (``ImageConfig``).

Layout under the store's root::

    layers/<digest>/        the tree (never changed once its record exists)
    layers/<digest>.json    its record, written last: a layer without one is not a layer
    images/<key>.json       an image: layer digests and config
    tmp/                    layers being made; anything here after a crash is garbage

A layer is made in ``tmp/`` and renamed into place before its record is written, so an
interrupted or failed step leaves nothing that a later build could take for a finished layer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import BuildError


@dataclass(frozen=True)
class ImageConfig:
    """What a container of the image starts with, besides its layers."""

    python: str = "/usr/local/bin/python"  # the interpreter, a path inside the image
    python_version: str = ""  # exact: "3.11.2"
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    key: str  # the build key (a sha256 hex digest)
    layers: tuple[str, ...]  # layer digests, bottom first
    config: ImageConfig
    # "" for a built image (the cache: rebuilt when collected); "snapshot" for a sandbox's
    # filesystem (``snapshot.py``), which nothing could rebuild, so only ``gw image rm`` removes it
    origin: str = ""

    def to_json(self) -> str:
        data = {"key": self.key, "layers": list(self.layers), "config": asdict(self.config)}
        if self.origin:
            data["origin"] = self.origin
        return json.dumps(data, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ImageRecord:
        d = json.loads(text)
        return cls(d["key"], tuple(d["layers"]), ImageConfig(**d["config"]), d.get("origin", ""))


class LayerStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("layers", "images", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    # -- layers ----------------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        return self.root / "layers" / digest

    def has(self, digest: str) -> bool:
        return (self.root / "layers" / f"{digest}.json").exists()

    def layer_info(self, digest: str) -> dict[str, object]:
        return dict(json.loads((self.root / "layers" / f"{digest}.json").read_text()))

    def layer_size(self, digest: str) -> int:
        size = self.layer_info(digest).get("size", 0)
        return size if isinstance(size, int) else 0

    @contextmanager
    def making(self, digest: str, source: str) -> Iterator[Path]:
        """A fresh directory to make layer ``digest`` in; on a clean exit it becomes the layer,
        on any error it is removed. Yields the directory."""
        tmp = self.root / "tmp" / f"{digest[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(mode=0o755)
        try:
            yield tmp
            self.commit(tmp, digest, source)
        finally:
            remove_tree(tmp)

    def commit(self, tree: Path, digest: str, source: str) -> None:
        """Move a finished tree into place as layer ``digest`` and write its record. A layer
        another process finished first wins (same digest, same content): ours is dropped, so a
        layer containers may use is never replaced."""
        dest = self.path(digest)
        if self.has(digest):
            return
        if dest.exists():  # a rename whose record never came (a crash): not a layer
            remove_tree(dest)
        try:
            os.rename(tree, dest)
        except OSError:
            if self.has(digest) or dest.exists():
                return  # made concurrently; its record follows from the process that made it
            raise
        record = {"digest": digest, "source": source, "size": tree_size(dest), "made": time.time()}
        _write(self.root / "layers" / f"{digest}.json", json.dumps(record))

    def import_tree(self, src: Path, digest: str, source: str) -> None:
        """Make layer ``digest`` from a finished tree elsewhere (the machine's base cache) as hard
        links: no file data is copied. Across filesystems it falls back to a copy."""
        if self.has(digest):
            return
        with self.making(digest, source) as tmp:
            tmp.rmdir()
            out = subprocess.run(["cp", "-al", str(src), str(tmp)], capture_output=True, text=True)
            if out.returncode != 0:
                remove_tree(tmp)
                _cp = ["cp", "-a", "--reflink=auto", str(src), str(tmp)]
                out = subprocess.run(_cp, capture_output=True, text=True)
                if out.returncode != 0:
                    tmp.mkdir(exist_ok=True)
                    raise BuildError(f"could not import layer {digest[:12]}: {out.stderr.strip()}")

    def layers(self) -> list[str]:
        return sorted(p.name[:-5] for p in (self.root / "layers").glob("*.json"))

    def remove_layer(self, digest: str) -> None:
        (self.root / "layers" / f"{digest}.json").unlink(missing_ok=True)
        remove_tree(self.path(digest))

    # -- images ----------------------------------------------------------------------------------

    def image(self, key: str) -> ImageRecord | None:
        path = self.root / "images" / f"{key}.json"
        try:
            record = ImageRecord.from_json(path.read_text())
        except FileNotFoundError:
            return None
        # an image whose layer was removed (gw image rm, prune) is not there any more
        return record if all(self.has(d) for d in record.layers) else None

    def save_image(self, record: ImageRecord) -> None:
        _write(self.root / "images" / f"{record.key}.json", record.to_json())

    def images(self) -> list[ImageRecord]:
        out = []
        for path in sorted((self.root / "images").glob("*.json")):
            record = self.image(path.stem)
            if record is not None:
                out.append(record)
        return out

    def remove_image(self, key: str) -> None:
        (self.root / "images" / f"{key}.json").unlink(missing_ok=True)

    def clear_tmp(self) -> None:
        """Remove what interrupted builds left (call when no build runs: at server start)."""
        for p in (self.root / "tmp").iterdir():
            remove_tree(p)


def tree_size(path: Path) -> int:
    """Bytes the tree's files hold (hard links counted once)."""
    seen: set[int] = set()
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        # overlayfs work directories hold entries only root may remove through the usual walk
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            subprocess.run(["rm", "-rf", str(path)], capture_output=True)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text)
    os.replace(tmp, path)
