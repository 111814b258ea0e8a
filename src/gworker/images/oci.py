"""Pulling images from OCI registries into cached overlayfs layers, and pushing them back.

    ref = parse_reference("python:3.11-slim")    # Reference(registry, repository, tag, digest)
    image = pull("python:3.11-slim", layers_dir, credentials=None)  # -> OciImage
    image = pull("python:3.11-slim", store)     # or into any LayerStore (has, path, making)
    image.layers        # ((diff_id, path), ...) bottom first; each path an overlay upper dir
    image.config        # OciConfig(env, workdir, user, cmd, entrypoint, architecture)
    digest = push([dir1, dir2], config, "localhost:5000/me/app:1", credentials=None)

A layer lives at ``layers_dir/<hex of its diff_id>`` (``layer_path``), the sha256 of its
uncompressed tar, so the same layer pulled by two images is stored once (a layer repeated within
one image is stored again as ``<hex>-2``: overlayfs cannot stack one directory twice). It is
unpacked into a temporary directory and renamed into place only when complete and verified, so a
half-written layer is never reused. When every layer of an image is already there, ``pull``
reads only the image's config from the registry.

Transfers go through skopeo (``registry.py`` says why, and holds the policy: references, TLS,
credentials, errors); this module turns what skopeo fetched into overlayfs-format layers
(``layertar``) and overlay-format directories back into an OCI image to push. Errors are the
``RegistryError`` tree of ``registry.py``, re-exported here, plus ``layertar.LayerError`` for an
unsafe or corrupt layer.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import layertar
from .registry import (
    DIGEST,
    BadReference,
    ImageNotFound,
    Reference,
    RegistryError,
    RegistryUnauthorized,
    RegistryUnreachable,
    Skopeo,
    UnsupportedImage,
    host_architecture,
    parse_reference,
)

__all__ = [
    "BadReference",
    "ImageNotFound",
    "LayerDir",
    "LayerStore",
    "OciConfig",
    "OciImage",
    "Reference",
    "RegistryError",
    "RegistryUnauthorized",
    "RegistryUnreachable",
    "UnsupportedImage",
    "host_architecture",
    "layer_path",
    "parse_reference",
    "pull",
    "push",
]

# Layer media types we can unpack once skopeo has decompressed them; "foreign" and
# "nondistributable" layers (Windows base layers) are refused by name.
_TAR_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
}


@dataclass(frozen=True)
class OciConfig:
    """What an image says about running it (the OCI config's ``config`` section)."""

    env: tuple[str, ...] = ()  # "KEY=value", in the image's order
    workdir: str = ""
    user: str = ""
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    architecture: str = ""

    def to_oci(self, diff_ids: Sequence[str]) -> dict[str, object]:
        inner: dict[str, object] = {"Env": list(self.env)}
        for key, value in (("WorkingDir", self.workdir), ("User", self.user)):
            if value:
                inner[key] = value
        for key, argv in (("Cmd", self.cmd), ("Entrypoint", self.entrypoint)):
            if argv:
                inner[key] = list(argv)
        return {
            "architecture": self.architecture or host_architecture(),
            "os": "linux",
            "config": inner,
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        }

    @staticmethod
    def from_oci(doc: Mapping[str, object]) -> OciConfig:
        """From an image's config JSON; raises UnsupportedImage when its fields have wrong types."""
        section = doc.get("config") or {}
        if not isinstance(section, dict):
            raise UnsupportedImage(f"the image's config section is malformed: {section!r:.100}")
        inner: dict[str, Any] = section

        def strings(key: str) -> tuple[str, ...]:
            value = inner.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UnsupportedImage(f"the image's config has a malformed {key}: {value!r:.100}")
            return tuple(value)

        def string(key: str) -> str:
            value = inner.get(key) or ""
            if not isinstance(value, str):
                raise UnsupportedImage(f"the image's config has a malformed {key}: {value!r:.100}")
            return value

        return OciConfig(
            env=strings("Env"),
            workdir=string("WorkingDir"),
            user=string("User"),
            cmd=strings("Cmd"),
            entrypoint=strings("Entrypoint"),
            architecture=str(doc.get("architecture") or ""),
        )


@dataclass(frozen=True)
class OciImage:
    reference: Reference
    image_id: str  # sha256 of the config blob: changes whenever a layer or the config does
    layers: tuple[tuple[str, Path], ...]  # (diff_id, overlay upper dir), bottom layer first
    config: OciConfig


def layer_path(layers_dir: Path, diff_id: str) -> Path:
    """Where the layer with this diff_id lives once unpacked (``LayerDir``'s layout)."""
    return layers_dir / diff_id.removeprefix("sha256:")


class LayerStore(Protocol):
    """Where pulled layers go, by the hex of their diff_id. A store that keeps records beside its
    layers (the image builder's) satisfies this as it is."""

    def has(self, digest: str) -> bool:
        """Whether the finished layer is there."""

    def path(self, digest: str) -> Path:
        """The layer's directory."""

    def making(self, digest: str, source: str) -> AbstractContextManager[Path]:
        """An empty directory to fill; on a clean exit it becomes the layer, on an error it
        is removed, so a half-made layer is never taken for a finished one."""


class LayerDir:
    """The plain ``LayerStore``: ``root/<hex>`` directories, made in dot-named temporaries (left
    only by a crash, safe to delete when nothing pulls) and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def has(self, digest: str) -> bool:
        return self.path(digest).is_dir()

    def path(self, digest: str) -> Path:
        return self.root / digest

    @contextlib.contextmanager
    def making(self, digest: str, source: str) -> Iterator[Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=self.root))
        try:
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would be the image's /
            yield tmp
            try:
                os.rename(tmp, self.path(digest))
            except OSError:
                if not self.has(digest):  # else another pull of the same layer finished first
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _store(layers: Path | LayerStore) -> LayerStore:
    return LayerDir(layers) if isinstance(layers, Path) else layers


@contextlib.contextmanager
def _staging(where: Path) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pull-", dir=where))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _image(
    ref: Reference, raw: bytes, store: LayerStore, diff_ids: Sequence[str], doc: Mapping[str, Any]
) -> OciImage:
    layers = tuple((d, store.path(k)) for d, k in zip(diff_ids, _keys(diff_ids), strict=True))
    return OciImage(
        ref, "sha256:" + hashlib.sha256(raw).hexdigest(), layers, OciConfig.from_oci(doc)
    )


def _hex(diff_id: str) -> str:
    return diff_id.removeprefix("sha256:")


def _keys(diff_ids: Sequence[str]) -> list[str]:
    """Each layer's name in the store: its diff_id's hex, and ``<hex>-2``, ``<hex>-3`` for later
    repeats of it (empty layers repeat often), because overlayfs refuses to stack one directory
    twice (ELOOP)."""
    seen: dict[str, int] = {}
    keys = []
    for d in diff_ids:
        seen[d] = seen.get(d, 0) + 1
        keys.append(_hex(d) if seen[d] == 1 else f"{_hex(d)}-{seen[d]}")
    return keys


def _diff_ids(config_doc: Mapping[str, object], ref: Reference) -> list[str]:
    rootfs = config_doc.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(d, str) and DIGEST.match(d) for d in ids):
        raise UnsupportedImage(f"{ref}'s config has no valid rootfs.diff_ids: not an OCI image")
    arch, os_ = config_doc.get("architecture"), config_doc.get("os", "linux")
    if os_ != "linux" or arch != host_architecture():
        raise UnsupportedImage(
            f"{ref} is for {os_}/{arch}, this machine runs linux/{host_architecture()}: pick a tag"
            " built for this machine's architecture"
        )
    return ids


def pull(
    ref: str,
    layers: Path | LayerStore,
    credentials: Mapping[str, str] | None = None,
    *,
    staging: Path | None = None,
) -> OciImage:
    """Pull ``ref`` for this machine's architecture, unpacking the layers ``layers`` (a directory,
    or a ``LayerStore``) lacks. Downloads are staged under ``staging`` (default: the layers'
    own directory, on the same disk, as images can be large)."""
    parsed = parse_reference(ref)
    store = _store(layers)
    with _staging(staging or store.path("_").parent) as tmp:  # the directory layers live in
        skopeo = Skopeo(parsed, credentials, tmp)
        source = f"docker://{parsed.pinned}"
        raw = skopeo.run("inspect", "--raw", "--config", source)
        doc = json.loads(raw)
        diff_ids = _diff_ids(doc, parsed)
        if all(store.has(k) for k in _keys(diff_ids)):
            return _image(parsed, raw, store, diff_ids, doc)
        copied = tmp / "image"
        skopeo.run("copy", "--dest-decompress", "--quiet", source, f"dir:{copied}", side="src-")
        manifest = json.loads((copied / "manifest.json").read_bytes())
        raw = (copied / _hex(manifest["config"]["digest"])).read_bytes()
        doc = json.loads(raw)  # the tag may have moved since inspect: what was copied wins
        diff_ids = _diff_ids(doc, parsed)
        descriptors = manifest.get("layers") or []
        if len(descriptors) != len(diff_ids):
            raise UnsupportedImage(f"{parsed}'s manifest and config disagree on its layers")
        for media in {d.get("mediaType", "") for d in descriptors} - _TAR_LAYERS:
            raise UnsupportedImage(
                f"{parsed} has a layer of media type {media!r}, which cannot be unpacked here"
                f" (accepted: {', '.join(sorted(_TAR_LAYERS))})"
            )
        uses = collections.Counter(d["digest"] for d in descriptors)
        for desc, diff_id, key in zip(descriptors, diff_ids, _keys(diff_ids), strict=True):
            blob = copied / _hex(desc["digest"])
            if not store.has(key):
                with store.making(key, f"pull {parsed}") as tree, open(blob, "rb") as f:
                    got = layertar.unpack(f, tree)
                    if got != diff_id:
                        raise UnsupportedImage(
                            f"{parsed}: layer {diff_id} unpacked to {got}: a corrupt download"
                        )
            uses[desc["digest"]] -= 1
            if not uses[desc["digest"]]:
                blob.unlink()  # free the disk as we go: images can be large
    return _image(parsed, raw, store, diff_ids, doc)


def push(
    layers: Sequence[Path],
    config: OciConfig,
    ref: str,
    credentials: Mapping[str, str] | None = None,
) -> str:
    """Push overlay-format layer directories (bottom first) with ``config`` as ``ref``; return
    the pushed manifest's digest."""
    parsed = parse_reference(ref)
    if parsed.digest:
        raise BadReference(f"cannot push to {ref!r}: a digest names content, push to a tag")
    with tempfile.TemporaryDirectory(prefix="gw-push-") as tmp_name:
        tmp = Path(tmp_name)
        skopeo = Skopeo(parsed, credentials, tmp)
        layout = tmp / "layout"
        blobs = layout / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        descriptors, diff_ids = [], []
        for directory in layers:
            diff_id, desc = _write_layer(Path(directory), blobs, tmp)
            diff_ids.append(diff_id)
            descriptors.append(desc)
        config_desc = _write_json(blobs, config.to_oci(diff_ids), "config.v1+json")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": descriptors,
        }
        manifest_desc = _write_json(blobs, manifest, "manifest.v1+json")
        manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": "gw"}
        index = {"schemaVersion": 2, "manifests": [manifest_desc]}
        (layout / "index.json").write_text(json.dumps(index))
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        digestfile = tmp / "digest"
        skopeo.run(
            "copy", "--quiet", f"--digestfile={digestfile}", f"oci:{layout}:gw",
            f"docker://{parsed}", side="dest-",
        )  # fmt: skip
        return digestfile.read_text().strip()


def _write_json(blobs: Path, doc: object, kind: str) -> dict[str, object]:
    data = json.dumps(doc, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    media = f"application/vnd.oci.image.{kind}"
    return {"mediaType": media, "digest": f"sha256:{digest}", "size": len(data)}


def _write_layer(directory: Path, blobs: Path, tmp: Path) -> tuple[str, dict[str, object]]:
    if not directory.is_dir():
        raise RegistryError(f"cannot push layer {directory}: not a directory")
    tar = tmp / "layer.tar"
    with open(tar, "wb") as out:
        diff_id = layertar.pack(directory, out)
    gz = tmp / "layer.tar.gz"
    with (
        open(tar, "rb") as src,
        open(gz, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out,
    ):
        shutil.copyfileobj(src, out, 1 << 20)
    digest = hashlib.sha256()
    with open(gz, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    size = gz.stat().st_size
    os.replace(gz, blobs / digest.hexdigest())
    tar.unlink()
    media = "application/vnd.oci.image.layer.v1.tar+gzip"
    return diff_id, {"mediaType": media, "digest": f"sha256:{digest.hexdigest()}", "size": size}
