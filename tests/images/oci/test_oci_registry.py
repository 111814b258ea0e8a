"""Round trips through a real registry on loopback: push an image built here, pull it back."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gworker.images import layertar, oci

Registry = Any  # tests/images/oci/conftest.py's Registry(address, storage)

CONFIG = oci.OciConfig(
    env=("PATH=/bin", "GREETING=hi there"),
    workdir="/etc",
    user="1000:1000",
    cmd=("sh", "-c", "echo cmd"),
    entrypoint=("/bin/sh", "-c", 'exec "$@"', "--"),
    architecture=oci.host_architecture(),
)


@pytest.fixture(scope="module")
def pushed(registry: Registry, busybox_layers: list[Path]) -> tuple[str, str]:
    ref = f"{registry.address}/tests/busybox:v1"
    return ref, oci.push(busybox_layers, CONFIG, ref)


def test_push_then_pull_gives_layers_whiteouts_and_config(
    pushed: tuple[str, str], busybox_layers: list[Path], tmp_path: Path
) -> None:
    ref, digest = pushed
    assert digest.startswith("sha256:")
    image = oci.pull(ref, tmp_path)
    assert image.config == CONFIG
    assert image.reference == oci.parse_reference(ref)
    with open(os.devnull, "wb") as sink:
        expected = [layertar.pack(layer, sink) for layer in busybox_layers]
    assert [d for d, _ in image.layers] == expected
    base, top = (path for _, path in image.layers)
    assert base == oci.layer_path(tmp_path, expected[0])
    busybox = base / "bin" / "busybox"
    assert busybox.read_bytes() == (busybox_layers[0] / "bin" / "busybox").read_bytes()
    assert os.readlink(base / "bin" / "sh") == "busybox"
    assert stat.S_IMODE(os.stat(busybox).st_mode) & 0o111
    motd = os.stat(base / "etc" / "motd")
    assert (motd.st_uid, motd.st_gid) == (1234, 5678)
    assert stat.S_IMODE(os.stat(base / "tmp").st_mode) == 0o1777
    whiteout = os.lstat(top / "etc" / "motd")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == os.makedev(0, 0)
    assert os.getxattr(top / "etc" / "conf.d", layertar.OPAQUE_XATTR) == b"y"
    assert sorted(os.listdir(top / "etc" / "conf.d")) == ["new.conf"]
    assert os.stat(top / "data.txt").st_ino == os.stat(top / "data-link.txt").st_ino
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def _run_in_overlay(image: oci.OciImage, tmp_path: Path, command: str) -> list[str]:
    """Mount the image's layers as an overlay root (in a private mount namespace) and run
    ``command`` with busybox's sh in it."""
    lower = ":".join(str(path) for _, path in reversed(image.layers))  # overlayfs: top first
    merged = tmp_path / "merged"
    merged.mkdir()
    script = (
        f"mount -t overlay overlay -o lowerdir={lower} {merged}"
        f" && chroot {merged} /bin/sh -c '{command}'"
    )
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    if out.returncode != 0 and "mount" in out.stderr:
        pytest.fail(f"overlayfs cannot be mounted here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_pulled_layers_mount_as_an_overlay_root(pushed: tuple[str, str], tmp_path: Path) -> None:
    image = oci.pull(pushed[0], tmp_path / "layers")
    listing = _run_in_overlay(image, tmp_path, "ls /etc; ls /etc/conf.d; cat /data-link.txt")
    assert listing == ["conf.d", "new.conf", "data"]  # motd deleted, old.conf hidden


def test_a_repeated_layer_is_stored_again_and_mounts(
    registry: Registry, busybox_layers: list[Path], tmp_path: Path
) -> None:
    base, top = busybox_layers
    ref = f"{registry.address}/tests/repeated:v1"
    oci.push([base, top, base], CONFIG, ref)  # the base again restores /etc/motd
    image = oci.pull(ref, tmp_path / "layers")
    (first, _), _, (again, path) = image.layers
    assert first == again and path.name == first.removeprefix("sha256:") + "-2"
    assert _run_in_overlay(image, tmp_path, "cat /etc/motd") == ["hello", "from", "the", "base"]
    assert oci.pull(ref, tmp_path / "layers") == image


def test_pull_skips_layers_already_unpacked(
    registry: Registry, busybox_layers: list[Path], tmp_path: Path
) -> None:
    ref = f"{registry.address}/tests/cached:v1"
    oci.push(busybox_layers, CONFIG, ref)
    first = oci.pull(ref, tmp_path)
    # With every layer blob gone from the registry, only the config can be read: the second
    # pull must not download layers.
    blobs = registry.storage / "docker" / "registry" / "v2" / "blobs" / "sha256"
    config_blob = first.image_id.removeprefix("sha256:")
    removed = 0
    for data in blobs.glob("*/*/data"):
        if data.parent.name != config_blob and data.stat().st_size > 1000:
            data.unlink()
            removed += 1
    assert removed
    second = oci.pull(ref, tmp_path)
    assert second == first
    for _, path in first.layers:
        shutil.rmtree(path)
    with pytest.raises(oci.RegistryError):
        oci.pull(ref, tmp_path)  # now it must download, and the blobs are gone


def test_an_image_for_another_architecture_is_refused(
    registry: Registry, busybox_layers: list[Path], tmp_path: Path
) -> None:
    other = "arm64" if oci.host_architecture() != "arm64" else "amd64"
    ref = f"{registry.address}/tests/foreign:v1"
    oci.push(busybox_layers[:1], oci.OciConfig(architecture=other), ref)
    with pytest.raises(oci.UnsupportedImage, match=f"linux/{other}"):
        oci.pull(ref, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing unpacked, no temporaries left


def test_missing_tag_and_repository(pushed: tuple[str, str], tmp_path: Path) -> None:
    ref = pushed[0]
    with pytest.raises(oci.ImageNotFound, match="tag 'nope' of repository 'tests/busybox'"):
        oci.pull(ref.replace(":v1", ":nope"), tmp_path)
    with pytest.raises(oci.ImageNotFound, match="does not exist"):
        oci.pull(ref.replace("busybox", "no-such-repo"), tmp_path)


def test_unreachable_registry(closed_port: int, tmp_path: Path) -> None:
    port = closed_port
    with pytest.raises(oci.RegistryUnreachable, match=f"127.0.0.1:{port} cannot be reached"):
        oci.pull(f"127.0.0.1:{port}/x/y:1", tmp_path)


def test_credentials(auth_registry: Registry, busybox_layers: list[Path], tmp_path: Path) -> None:
    good = dict(auth_registry.credentials)
    user = good["REGISTRY_USERNAME"]
    ref = f"{auth_registry.address}/private/busybox:v1"
    with pytest.raises(oci.RegistryUnauthorized, match="needs credentials"):
        oci.push(busybox_layers, CONFIG, ref)
    oci.push(busybox_layers, CONFIG, ref, credentials=good)
    assert oci.pull(ref, tmp_path, credentials=good).config == CONFIG
    with pytest.raises(oci.RegistryUnauthorized, match="needs credentials.*REGISTRY_USERNAME"):
        oci.pull(ref, tmp_path)
    bad = {**good, "REGISTRY_PASSWORD": "wrong"}
    with pytest.raises(oci.RegistryUnauthorized, match=f"refused the credentials of user '{user}'"):
        oci.pull(ref, tmp_path, credentials=bad)
    with pytest.raises(oci.RegistryUnauthorized, match="lacks REGISTRY_PASSWORD"):
        oci.pull(ref, tmp_path, credentials={"REGISTRY_USERNAME": user})


def test_push_to_a_digest_is_refused(busybox_layers: list[Path]) -> None:
    with pytest.raises(oci.BadReference, match="push to a tag"):
        oci.push(busybox_layers, CONFIG, "localhost:5000/a@sha256:" + "0" * 64)


def test_pull_by_digest(pushed: tuple[str, str], tmp_path: Path) -> None:
    ref, digest = pushed
    by_tag = oci.pull(ref, tmp_path)
    by_digest = oci.pull(ref.replace(":v1", f"@{digest}"), tmp_path)
    both = oci.pull(f"{ref}@{digest}", tmp_path)  # a tag next to a digest: the digest wins
    assert by_tag.layers == by_digest.layers == both.layers
    assert by_tag.image_id == by_digest.image_id
    with pytest.raises(oci.ImageNotFound, match="digest sha256:0000"):
        oci.pull(ref.replace(":v1", "@sha256:" + "0" * 64), tmp_path)


def test_public_names() -> None:
    assert oci.__all__ == sorted(oci.__all__)
    assert all(hasattr(oci, name) for name in oci.__all__)


class RecordingStore:
    """A LayerStore that, like the image builder's, counts a layer only once its record exists."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[str] = []

    def has(self, digest: str) -> bool:
        return (self.root / f"{digest}.json").exists()

    def path(self, digest: str) -> Path:
        return self.root / digest

    @contextlib.contextmanager
    def making(self, digest: str, source: str) -> Iterator[Path]:
        tmp = self.root / "tmp" / digest
        tmp.mkdir(parents=True)
        try:
            yield tmp
            os.rename(tmp, self.path(digest))
            (self.root / f"{digest}.json").write_text(source)
            self.made.append(digest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def test_pull_into_a_layer_store(pushed: tuple[str, str], tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    image = oci.pull(pushed[0], store)
    assert store.made == [d.removeprefix("sha256:") for d, _ in image.layers]
    assert all(path == store.path(d.removeprefix("sha256:")) for d, path in image.layers)
    assert "pull 127.0.0.1" in (tmp_path / f"{store.made[0]}.json").read_text()
    assert oci.pull(pushed[0], store) == image
    assert len(store.made) == 2  # nothing unpacked twice
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pull-")]


def test_a_failed_layer_leaves_nothing(tmp_path: Path) -> None:
    store = oci.LayerDir(tmp_path)
    with pytest.raises(RuntimeError), store.making("ab" * 32, "test") as tree:
        (tree / "half-written").write_text("x")
        raise RuntimeError("disk full")
    assert not store.has("ab" * 32) and not list(tmp_path.iterdir())


def test_zstd_layers(pushed: tuple[str, str], registry: Registry, tmp_path: Path) -> None:
    """Layers compressed with zstd (as newer builders push them) unpack to the same layers."""
    layout = f"oci:{tmp_path / 'layout'}:z"
    ref = f"{registry.address}/tests/zstd:v1"
    skopeo = ["skopeo", "--insecure-policy", "copy", "--quiet"]
    subprocess.run(
        [*skopeo, "--src-tls-verify=false", "--dest-compress", "--dest-compress-format=zstd",
         f"docker://{pushed[0]}", layout],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [*skopeo, "--dest-tls-verify=false", "--preserve-digests", layout, f"docker://{ref}"],
        check=True,
    )
    manifest = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "tar+zstd" in manifest
    assert [d for d, _ in oci.pull(ref, tmp_path / "l").layers] == [
        d for d, _ in oci.pull(pushed[0], tmp_path / "l").layers
    ]


def _push_index(registry: Registry, images: dict[str, str], tag: str, tmp_path: Path) -> str:
    """Push a multi-platform index listing the pushed image ``images[arch]`` for each arch."""
    skopeo = ["skopeo", "--insecure-policy", "copy", "--quiet"]
    layout = tmp_path / f"layout-{tag}"
    entries = []
    for arch, single in images.items():
        subprocess.run(
            [*skopeo, "--src-tls-verify=false", f"docker://{single}", f"oci:{layout}:{arch}"],
            check=True,
        )
        manifest = next(
            m
            for m in json.loads((layout / "index.json").read_text())["manifests"]
            if m["annotations"]["org.opencontainers.image.ref.name"] == arch
        )
        manifest.pop("annotations")
        entries.append({**manifest, "platform": {"architecture": arch, "os": "linux"}})
    inner = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }
    data = json.dumps(inner).encode()
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    outer = {
        "mediaType": inner["mediaType"],
        "digest": f"sha256:{digest}",
        "size": len(data),
        "annotations": {"org.opencontainers.image.ref.name": "index"},
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [outer]}))
    ref = f"{registry.address}/tests/multi:{tag}"
    subprocess.run(
        [*skopeo, "--multi-arch=all", "--dest-tls-verify=false", f"oci:{layout}:index",
         f"docker://{ref}"],
        check=True,
    )  # fmt: skip
    return ref


def test_multi_platform_images(
    registry: Registry, busybox_layers: list[Path], tmp_path: Path
) -> None:
    host = oci.host_architecture()
    other = "arm64" if host != "arm64" else "amd64"
    images = {}
    for arch, layers in ((host, busybox_layers), (other, busybox_layers[:1])):
        images[arch] = f"{registry.address}/tests/single-{arch}:v1"
        oci.push(layers, oci.OciConfig(architecture=arch), images[arch])
    both = _push_index(registry, images, "both", tmp_path)
    image = oci.pull(both, tmp_path / "layers")
    assert image.config.architecture == host and len(image.layers) == 2  # this machine's
    only_other = _push_index(registry, {other: images[other]}, "other", tmp_path)
    with pytest.raises(oci.UnsupportedImage, match=f"no image for linux/{host}"):
        oci.pull(only_other, tmp_path / "layers")


def test_a_layer_media_type_we_cannot_unpack_is_refused(
    pushed: tuple[str, str], registry: Registry, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    skopeo = ["skopeo", "--insecure-policy", "copy", "--quiet"]
    subprocess.run(
        [*skopeo, "--src-tls-verify=false", f"docker://{pushed[0]}", f"oci:{layout}:x"],
        check=True,
    )
    # Mark the top layer "nondistributable" (as Windows base layers are) and re-point the index.
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    nondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    manifest["layers"][-1]["mediaType"] = nondistributable
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    index["manifests"][0].update(digest=f"sha256:{digest}", size=len(data))
    (layout / "index.json").write_text(json.dumps(index))
    ref = f"{registry.address}/tests/foreign:v1"
    subprocess.run(
        [*skopeo, "--dest-tls-verify=false", f"oci:{layout}:x", f"docker://{ref}"], check=True
    )
    with pytest.raises(oci.UnsupportedImage, match="media type 'application/vnd.oci.image.layer"):
        oci.pull(ref, tmp_path / "layers")
    assert not list((tmp_path / "layers").iterdir())  # refused before anything was unpacked
