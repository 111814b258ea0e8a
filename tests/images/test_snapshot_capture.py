"""``images.snapshot.capture``: an overlay upper (as a sandbox leaves it) becomes a layer in the
store's format: whiteouts, opaque directories, owners, modes, links, FIFOs and the xattrs a layer
keeps, without the mounted paths, overlay's own bookkeeping or anything a symlink points at; the
same changes make the same layer; a cancelled copy leaves nothing; the image travels."""

from __future__ import annotations

import os
import platform
import stat
import threading
from pathlib import Path

import pytest

from gworker.images import BuildError, ImageConfig, ImageRecord, LayerStore, transfer
from gworker.images.snapshot import SnapshotCancelled, capture
from gworker_client._protocol.image import SPEC_VERSION

BASE = ImageRecord("b" * 64, (), ImageConfig(python="/usr/bin/python3", python_version="3.11.2"))


@pytest.fixture
def upper(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.fail("overlay layers need root (whiteouts are device nodes, opaque dirs xattrs)")
    u = tmp_path / "upper"
    (u / "data" / "gone").mkdir(parents=True)
    os.mknod(u / "data" / "old.txt", stat.S_IFCHR, os.makedev(0, 0))  # a deleted image file
    os.setxattr(u / "data" / "gone", "trusted.overlay.opaque", b"y")
    (u / "data" / "gone" / "b").write_text("fresh\n")
    os.setxattr(u / "data", "trusted.overlay.origin", b"\x00fh")  # this mount's bookkeeping
    secret = u / "data" / "mine.txt"
    secret.write_text("mine\n")
    os.chown(secret, 65534, 65534)
    os.chmod(secret, 0o640)
    os.setxattr(secret, "user.note", b"kept")
    os.link(secret, u / "data" / "also-mine.txt")
    os.mkfifo(u / "data" / "fifo")
    (u / "data" / "shadow").symlink_to("/etc/shadow")  # a link, never what it points at
    (u / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(u / "run.sh", 0o4755)
    for mounted in ("tmp", "opt/gworker/runtime", "vol", "etc"):
        (u / mounted).mkdir(parents=True)
    (u / "tmp" / "t").write_text("private /tmp\n")
    (u / "vol" / "v").write_text("a volume's\n")
    (u / "etc" / "hosts").write_text("")  # a mount point bubblewrap made
    return u


def test_an_upper_becomes_a_layer(tmp_path: Path, upper: Path) -> None:
    store = LayerStore(tmp_path / "store")
    placed = tmp_path / "placed"
    (placed / "pkg").mkdir(parents=True)
    (placed / "pkg" / "m.py").write_text("X = 1\n")
    record = capture(
        store, upper, BASE, excluded=["/vol"], files={"/root/src": placed}, source="test"
    )
    assert record.origin == "snapshot" and store.image(record.key) == record
    (digest,) = record.layers
    layer = store.path(digest)
    names = sorted(str(p.relative_to(layer)) for p in layer.rglob("*"))
    assert names == [
        "data",
        "data/also-mine.txt",
        "data/fifo",
        "data/gone",
        "data/gone/b",
        "data/mine.txt",
        "data/old.txt",
        "data/shadow",
        "etc",
        "opt",
        "root",
        "root/src",
        "root/src/pkg",
        "root/src/pkg/m.py",
        "run.sh",
    ]  # fmt: skip: the parents of mount points stay (copied up), the mount points do not
    old = os.lstat(layer / "data" / "old.txt")
    assert stat.S_ISCHR(old.st_mode) and old.st_rdev == 0
    assert os.getxattr(layer / "data" / "gone", "trusted.overlay.opaque") == b"y"
    assert "trusted.overlay.origin" not in os.listxattr(layer / "data")
    mine = os.lstat(layer / "data" / "mine.txt")
    assert (mine.st_uid, stat.S_IMODE(mine.st_mode), mine.st_nlink) == (65534, 0o640, 2)
    assert os.getxattr(layer / "data" / "mine.txt", "user.note") == b"kept"
    assert stat.S_ISFIFO(os.lstat(layer / "data" / "fifo").st_mode)
    assert os.readlink(layer / "data" / "shadow") == "/etc/shadow"
    assert stat.S_IMODE(os.lstat(layer / "run.sh").st_mode) == 0o4755
    assert (layer / "root/src/pkg/m.py").read_text() == "X = 1\n"

    # the same changes: the same layer, stored once
    again = capture(store, upper, BASE, excluded=["/vol"], files={"/root/src": placed})
    assert again == record and len(store.layers()) == 1
    # over an image that has that layer already, it is stored again under its own name:
    # overlayfs cannot stack one directory twice
    stacked = capture(store, upper, record, excluded=["/vol"], files={"/root/src": placed})
    assert stacked.layers[0] == digest and len(set(stacked.layers)) == 2

    # it travels as every image does
    blobs = tmp_path / "blobs"
    manifest = transfer.export(store, record.key, transfer.blob_dir_put(blobs))
    other = LayerStore(tmp_path / "other")
    moved = transfer.ensure_local(other, manifest, transfer.blob_dir_fetch(blobs))
    assert moved.layers == record.layers and moved.key == record.key
    assert os.getxattr(other.path(digest) / "data" / "gone", "trusted.overlay.opaque") == b"y"


def test_a_cancelled_or_broken_snapshot_leaves_nothing(tmp_path: Path, upper: Path) -> None:
    store = LayerStore(tmp_path / "store")
    stop = threading.Event()
    stop.set()
    with pytest.raises(SnapshotCancelled):
        capture(store, upper, BASE, cancelled=stop)
    with pytest.raises(BuildError, match="ended during its snapshot"):
        capture(store, upper, BASE, alive=lambda: False)  # what it left may be partial
    with pytest.raises(FileNotFoundError):
        capture(store, tmp_path / "no-such-upper", BASE)
    assert store.layers() == [] and store.images() == []
    assert list((store.root / "tmp").iterdir()) == []


def test_the_builder_starts_images_from_a_snapshot(builds, tmp_path: Path, upper: Path) -> None:
    version = platform.python_version()
    minor = ".".join(version.split(".")[:2])
    base = ImageRecord("c" * 64, (), ImageConfig(python="/usr/bin/python3", python_version=version))
    record = capture(builds.builder.store, upper, base)
    spec = {
        "version": SPEC_VERSION,
        "layers": [{"op": "base", "snapshot": record.key, "python_version": minor}],
    }
    built = builds.builder.build(spec)
    assert built.layers == record.layers and built.python == "/usr/bin/python3"
    # a store that received its layers (a Ray node) starts it without building
    assert builds.builder.from_record(record, spec).layers == record.layers
    gone = {**spec, "layers": [{**spec["layers"][0], "snapshot": "d" * 64}]}
    with pytest.raises(BuildError, match="no filesystem snapshot im-ddd"):
        builds.builder.build(gone)
    climbing = {**spec, "layers": [{**spec["layers"][0], "snapshot": f"../images/{record.key}"}]}
    with pytest.raises(BuildError, match="no filesystem snapshot"):
        builds.builder.build(climbing)
