"""Images that travel: a built image as layer archives plus a manifest, and back.

Another machine (a Ray node) runs an image without building it: ``export`` writes each layer as
a tar archive (GNU tar with ``trusted.*`` xattrs and numeric owners, so whiteouts, opaque
directories, setuid bits and ownership survive), named by the archive's sha256, through
``put_blob``; ``ensure_local`` fetches the archives a layer store lacks, checks each against its
digest, unpacks it into a temporary directory and commits it as the layer (``LayerStore``: a
record only once complete), then records the image. Layers already present are not fetched, so
the Debian base crosses the wire once per machine. The layer digest is the store's name for it;
the archive digest is the blob's.

``Manifest`` is plain data (``to_json``/``from_json``); the control plane keeps manifests as blobs
too (``server/images.py``: ``POST /v1/images/export``).

    manifest = export(store, key, put_blob)            # on the machine that built it
    record = ensure_local(store, manifest, fetch_blob)  # on any other, before starting containers
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import BuildError
from .layers import ImageConfig, ImageRecord, LayerStore, remove_tree

FORMAT = "gworker-image-manifest-v1"
PutBlob = Callable[[str, Path], None]  # (sha256, archive file): store it (the file may be moved)
FetchBlob = Callable[[str, Path], None]  # (sha256, destination): write that blob there
_TAR_FLAGS = ["--xattrs", "--xattrs-include=trusted.*", "--numeric-owner"]


@dataclass(frozen=True)
class LayerRef:
    digest: str  # the layer's name in a store
    blob: str  # sha256 of its archive
    size: int  # the archive's bytes


@dataclass(frozen=True)
class Manifest:
    key: str  # the image record's key
    layers: tuple[LayerRef, ...]  # bottom first
    config: ImageConfig

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "key": self.key,
            "layers": [asdict(x) for x in self.layers],
            "config": asdict(self.config),
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise BuildError(f"not an image manifest of this version ({d.get('format')!r})")
        layers = tuple(LayerRef(**x) for x in d["layers"])
        return cls(d["key"], layers, ImageConfig(**d["config"]))


def export(store: LayerStore, key: str, put_blob: PutBlob) -> Manifest:
    """Archive each layer of image ``key`` and hand it to ``put_blob``; return the manifest."""
    record = store.image(key)
    if record is None:
        raise BuildError(f"image {key[:12]} is not built in this store")
    refs = []
    for digest in record.layers:
        archive = store.root / "tmp" / f"export-{digest[:16]}-{uuid.uuid4().hex[:8]}.tar"
        try:
            _tar(["-C", str(store.path(digest)), "-cf", str(archive), "."], creating=True)
            sha, size = _sha256(archive), archive.stat().st_size
            put_blob(sha, archive)
        finally:
            archive.unlink(missing_ok=True)
        refs.append(LayerRef(digest, sha, size))
    return Manifest(record.key, tuple(refs), record.config)


def ensure_local(store: LayerStore, manifest: Manifest, fetch_blob: FetchBlob) -> ImageRecord:
    """The manifest's image in ``store``, fetching and unpacking only the layers it lacks."""
    for ref in manifest.layers:
        if store.has(ref.digest):
            continue
        archive = store.root / "tmp" / f"import-{ref.blob[:16]}-{uuid.uuid4().hex[:8]}.tar"
        try:
            fetch_blob(ref.blob, archive)
            if _sha256(archive) != ref.blob:
                raise BuildError(f"layer archive {ref.blob} does not match its digest")
            with store.making(ref.digest, f"imported from archive {ref.blob[:12]}") as tree:
                _tar(["-C", str(tree), "-xpf", str(archive)])
        finally:
            archive.unlink(missing_ok=True)
    record = ImageRecord(manifest.key, tuple(x.digest for x in manifest.layers), manifest.config)
    store.save_image(record)
    return record


def _tar(args: list[str], *, creating: bool = False) -> None:
    flags = list(_TAR_FLAGS)
    if creating:
        # A layer's files never change, but hard-linking one into another store (the base image
        # is shared so) changes its ctime, which tar reports as a change with status 1.
        flags.append("--warning=no-file-changed")
    out = subprocess.run(["tar", *flags, *args], capture_output=True, text=True)
    if out.returncode != 0 and not (creating and out.returncode == 1 and not out.stderr.strip()):
        raise BuildError(f"tar {' '.join(args)} failed: {out.stderr.strip()}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def blob_dir_put(root: Path) -> PutBlob:
    """A ``PutBlob`` into a directory laid out as the control plane's blob store."""

    def put(sha: str, archive: Path) -> None:
        dest = root / sha[:2] / sha
        if dest.exists():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{sha}.{os.getpid()}")
        os.replace(archive, tmp)
        os.replace(tmp, dest)

    return put


def blob_dir_fetch(root: Path) -> FetchBlob:
    """A ``FetchBlob`` from such a directory (on this machine: a hard link, else a copy)."""

    def fetch(sha: str, dest: Path) -> None:
        src = root / sha[:2] / sha
        if not src.exists():
            raise BuildError(f"layer archive {sha} is not in the blob store")
        try:
            os.link(src, dest)
        except OSError:
            remove_tree(dest)
            subprocess.run(["cp", str(src), str(dest)], check=True)

    return fetch
