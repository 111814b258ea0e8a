"""Pulling images from OCI registries into cached overlayfs layers, and pushing them back.

    ref = parse_reference("python:3.11-slim")    # Reference(registry, repository, tag, digest)
    image = pull("python:3.11-slim", layers_dir, credentials=None)  # -> OciImage
    image.layers        # ((diff_id, path), ...) bottom first; each path an overlay upper dir
    image.config        # ImageConfig(env, workdir, user, cmd, entrypoint, architecture)
    digest = push([dir1, dir2], config, "localhost:5000/me/app:1", credentials=None)

A layer lives at ``layers_dir/<hex of its diff_id>`` (``layer_path``), the sha256 of its
uncompressed tar, so the same layer pulled by two images is stored once; it is unpacked into a
temporary directory and renamed into place only when complete and verified, so a half-written
layer is never reused. When every layer of an image is already there, ``pull`` reads only the
image's config from the registry.

Transfers go through skopeo (``registry.py`` says why, and holds the policy: references, TLS,
credentials, errors); this module turns what skopeo fetched into overlayfs-format layers
(``layertar``) and overlay-format directories back into an OCI image to push. Errors are the
``RegistryError`` tree of ``registry.py``, re-exported here, plus ``layertar.LayerError`` for an
unsafe or corrupt layer.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
    "ImageConfig",
    "ImageNotFound",
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
class ImageConfig:
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
    def from_oci(doc: Mapping[str, object]) -> ImageConfig:
        inner = doc.get("config") or {}
        assert isinstance(inner, dict)
        return ImageConfig(
            env=tuple(inner.get("Env") or ()),
            workdir=inner.get("WorkingDir") or "",
            user=inner.get("User") or "",
            cmd=tuple(inner.get("Cmd") or ()),
            entrypoint=tuple(inner.get("Entrypoint") or ()),
            architecture=str(doc.get("architecture") or ""),
        )


@dataclass(frozen=True)
class OciImage:
    reference: Reference
    image_id: str  # sha256 of the config blob: changes whenever a layer or the config does
    layers: tuple[tuple[str, Path], ...]  # (diff_id, overlay upper dir), bottom layer first
    config: ImageConfig


def layer_path(layers_dir: Path, diff_id: str) -> Path:
    """Where the layer with this diff_id lives once unpacked."""
    return layers_dir / diff_id.removeprefix("sha256:")


@contextlib.contextmanager
def _tempdir(near: Path) -> Iterator[Path]:
    near.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pull-", dir=near))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _layers(layers_dir: Path, diff_ids: Sequence[str]) -> tuple[tuple[str, Path], ...]:
    return tuple((d, layer_path(layers_dir, d)) for d in diff_ids)


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


def pull(ref: str, layers_dir: Path, credentials: Mapping[str, str] | None = None) -> OciImage:
    """Pull ``ref`` for this machine's architecture; unpack missing layers under ``layers_dir``."""
    parsed = parse_reference(ref)
    with _tempdir(layers_dir) as tmp:
        skopeo = Skopeo(parsed, credentials, tmp)
        source = f"docker://{parsed.pinned}"
        raw = skopeo.run("inspect", "--raw", "--config", source)
        doc = json.loads(raw)
        diff_ids = _diff_ids(doc, parsed)
        if all(layer_path(layers_dir, d).is_dir() for d in diff_ids):
            return OciImage(
                parsed, _sha(raw), _layers(layers_dir, diff_ids), ImageConfig.from_oci(doc)
            )
        copied = tmp / "image"
        skopeo.run("copy", "--dest-decompress", "--quiet", source, f"dir:{copied}", side="src-")
        manifest = json.loads((copied / "manifest.json").read_bytes())
        config_digest = manifest["config"]["digest"]
        raw = (copied / config_digest.removeprefix("sha256:")).read_bytes()
        doc = json.loads(raw)  # the tag may have moved since inspect: what was copied wins
        diff_ids = _diff_ids(doc, parsed)
        if len(manifest.get("layers", ())) != len(diff_ids):
            raise UnsupportedImage(f"{parsed}'s manifest and config disagree on its layers")
        for desc, diff_id in zip(manifest["layers"], diff_ids, strict=True):
            media = desc.get("mediaType", "")
            if media not in _TAR_LAYERS:
                raise UnsupportedImage(
                    f"{parsed} has a layer of media type {media!r}, which cannot be unpacked"
                    f" here (accepted: {', '.join(sorted(_TAR_LAYERS))})"
                )
            blob = copied / desc["digest"].removeprefix("sha256:")
            _install_layer(blob, layers_dir, diff_id, parsed)
            blob.unlink()
    return OciImage(parsed, _sha(raw), _layers(layers_dir, diff_ids), ImageConfig.from_oci(doc))


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _install_layer(blob: Path, layers_dir: Path, diff_id: str, ref: Reference) -> None:
    dest = layer_path(layers_dir, diff_id)
    if dest.is_dir():
        return
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name[:16]}-", dir=layers_dir))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would be the image's /; a "./" member overrides
        with open(blob, "rb") as f:
            got = layertar.unpack(f, tmp)
        if got != diff_id:
            raise UnsupportedImage(f"{ref}: layer {diff_id} unpacked to {got}: corrupt download")
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():  # else another pull of the same layer finished first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def push(
    layers: Sequence[Path],
    config: ImageConfig,
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
