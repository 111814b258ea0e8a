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

Transfers go through skopeo (Debian's ``skopeo``), not our own HTTP client: registries differ in
the auth dance (Docker Hub's and GHCR's bearer tokens, ECR), manifest formats (Docker schema 2,
OCI, manifest lists with a platform to choose), compression (gzip, zstd) and retries, and skopeo
is the maintained implementation of all of them. What is policy stays here: reference syntax,
plain HTTP only for loopback registries (as Docker allows for localhost), no host credentials
(``--no-creds`` unless the caller passes a Secret's REGISTRY_USERNAME and REGISTRY_PASSWORD, given
to skopeo in a private auth file, never on a command line), unpacking into overlayfs form
(``layertar``), and skopeo's errors translated into ``RegistryError``s that name the fix.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import ipaddress
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import layertar
from .errors import BuildError

SKOPEO_TIMEOUT_S = 1800
DOCKER_HUB = "docker.io"
# Layer media types we can unpack once skopeo has decompressed them; "foreign" and
# "nondistributable" layers (Windows base layers) are refused by name.
_TAR_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
}
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::\d+)?$")


class RegistryError(BuildError):
    """An image could not be pulled or pushed. Subclasses say why; every message names the fix."""


class BadReference(RegistryError):
    """The image reference is not valid syntax (``[registry/]repository[:tag][@sha256:...]``)."""


class RegistryUnreachable(RegistryError):
    """The registry did not answer: wrong host or port, no network, or a TLS failure."""


class RegistryUnauthorized(RegistryError):
    """The registry refused the credentials, or wants some and none were given."""


class ImageNotFound(RegistryError):
    """The repository or tag does not exist in the registry."""


class UnsupportedImage(RegistryError):
    """The image exists but is for another architecture or uses a media type we cannot unpack."""


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port], "docker.io" for Docker Hub
    repository: str  # "library/python" for Docker Hub's official images
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def loopback(self) -> bool:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") else self.registry
        host = host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


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


def parse_reference(ref: str) -> Reference:
    """Parse a reference the way Docker does: ``python`` is ``docker.io/library/python:latest``."""
    hint = " (expected [registry[:port]/]repository[:tag][@sha256:<64 hex>], e.g. python:3.11-slim)"
    if not isinstance(ref, str) or not ref or ref != ref.strip():
        raise BadReference(f"image reference {ref!r} is not valid{hint}")
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise BadReference(f"image reference {ref!r} has a bad digest {digest!r}{hint}")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
        if not _HOST.match(registry):
            raise BadReference(f"image reference {ref!r} has a bad registry {registry!r}{hint}")
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise BadReference(f"image reference {ref!r} has a bad tag {tag!r}{hint}")
    if not _REPOSITORY.match(path):
        raise BadReference(
            f"image reference {ref!r} has a bad repository {path!r}: lowercase letters, digits"
            f" and separators (. _ - /) only{hint}"
        )
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, path, tag, digest)


def host_architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )


def layer_path(layers_dir: Path, diff_id: str) -> Path:
    """Where the layer with this diff_id lives once unpacked."""
    return layers_dir / diff_id.removeprefix("sha256:")


def _check_credentials(credentials: Mapping[str, str] | None) -> tuple[str, str] | None:
    if credentials is None:
        return None
    missing = [k for k in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD") if not credentials.get(k)]
    if missing:
        raise RegistryUnauthorized(
            f"the registry Secret lacks {' and '.join(missing)}: create it with both keys, e.g."
            " gw.Secret.from_dict({'REGISTRY_USERNAME': ..., 'REGISTRY_PASSWORD': ...})"
        )
    return credentials["REGISTRY_USERNAME"], credentials["REGISTRY_PASSWORD"]


class _Skopeo:
    """One skopeo session for one reference: TLS policy, credentials and error translation."""

    def __init__(self, ref: Reference, credentials: Mapping[str, str] | None, tmp: Path) -> None:
        self.ref = ref
        self.user_pass = _check_credentials(credentials)
        self.authfile: Path | None = None
        if self.user_pass:
            token = base64.b64encode(":".join(self.user_pass).encode()).decode()
            self.authfile = tmp / "auth.json"
            fd = os.open(self.authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"auths": {ref.registry: {"auth": token}}}, f)

    def _options(self, side: str) -> list[str]:
        """Flags for the registry end of a command (``side`` "" for inspect, "src-"/"dest-")."""
        # A loopback registry may speak plain HTTP (skopeo then tries HTTPS first, then HTTP).
        out = [f"--{side}tls-verify={'false' if self.ref.loopback else 'true'}"]
        if self.authfile:
            out.append(f"--{side}authfile={self.authfile}")
        else:
            out.append(f"--{side}no-creds")  # never the server's own docker login
        return out

    def run(self, *args: str, side: str = "") -> bytes:
        argv = [
            "skopeo",
            "--insecure-policy",  # signature policy is the registry's business, not the host's
            f"--override-arch={host_architecture()}",
            "--override-os=linux",
            *args[:1],
            *self._options(side),
            *args[1:],
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=SKOPEO_TIMEOUT_S)
        except FileNotFoundError:
            raise RegistryError(
                "skopeo is not installed: registry images need it (apt-get install skopeo)"
            ) from None
        except subprocess.TimeoutExpired:
            raise RegistryUnreachable(
                f"registry {self.ref.registry} did not finish within {SKOPEO_TIMEOUT_S} s"
            ) from None
        if proc.returncode != 0:
            raise self._translate(proc.stderr.decode("utf-8", "replace"))
        return proc.stdout

    def _translate(self, stderr: str) -> RegistryError:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "(no output)"
        msg = re.sub(r'^.*?msg="(.*)"\s*$', r"\1", last)
        msg = msg.replace('\\"', '"')
        low = msg.lower()
        ref, reg = self.ref, self.ref.registry
        if "http response to https client" in low:
            return RegistryUnreachable(
                f"registry {reg} speaks plain HTTP, which is allowed only for a registry on"
                f" loopback (localhost, 127.0.0.1, [::1]): serve it over TLS ({msg})"
            )
        if "x509" in low or "certificate" in low or "tls:" in low:
            return RegistryUnreachable(
                f"registry {reg}'s TLS certificate is not trusted: install its CA certificate"
                f" in the system's store (update-ca-certificates) ({msg})"
            )
        if any(
            s in low
            for s in (
                "connection refused",
                "no such host",
                "i/o timeout",
                "network is unreachable",
                "no route to host",
                "dial tcp",
            )
        ):
            return RegistryUnreachable(
                f"registry {reg} cannot be reached: check the host and port in {str(ref)!r}"
                f" and that the registry is running ({msg})"
            )
        if "no image found in" in low and "architecture" in low:
            return UnsupportedImage(
                f"{ref} has no image for linux/{host_architecture()}: pick a tag built for this"
                f" machine's architecture ({msg})"
            )
        if "requested access to the resource is denied" in low:
            return ImageNotFound(
                f"{ref} does not exist, or is private and needs credentials: check the name,"
                " or pass secret= with REGISTRY_USERNAME and REGISTRY_PASSWORD"
            )
        if "unauthorized" in low or "authentication required" in low or " 401" in low:
            if self.user_pass:
                return RegistryUnauthorized(
                    f"registry {reg} refused the credentials of user {self.user_pass[0]!r}:"
                    f" check REGISTRY_USERNAME and REGISTRY_PASSWORD in the Secret ({msg})"
                )
            return RegistryUnauthorized(
                f"registry {reg} needs credentials for {ref.repository}: pass"
                " secret=gw.Secret.from_name(...) holding REGISTRY_USERNAME and"
                f" REGISTRY_PASSWORD ({msg})"
            )
        if "manifest unknown" in low or "name unknown" in low or "not found" in low:
            what = f"tag {ref.tag!r}" if ref.tag and not ref.digest else f"digest {ref.digest}"
            return ImageNotFound(
                f"{what} of repository {ref.repository!r} does not exist in registry {reg}:"
                f" check the name and tag ({msg})"
            )
        return RegistryError(f"skopeo failed for {ref}: {msg}")


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
    if not isinstance(ids, list) or not all(isinstance(d, str) and _DIGEST.match(d) for d in ids):
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
        skopeo = _Skopeo(parsed, credentials, tmp)
        source = f"docker://{parsed}"
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
        with open(blob, "rb") as f:
            got = layertar.unpack(f, tmp)
        if got != diff_id:
            raise UnsupportedImage(f"{ref}: layer {diff_id} unpacked to {got}: corrupt download")
        os.chmod(tmp, 0o755)
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
        skopeo = _Skopeo(parsed, credentials, tmp)
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
