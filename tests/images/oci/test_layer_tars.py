"""Layer tars <-> overlayfs directories, including tars crafted to escape the layer."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from gworker.images import layertar

pytestmark = pytest.mark.usefixtures("needs_root")

Add = Callable[[tarfile.TarFile], None]


def _tar(*members: tuple[str, bytes | None, dict[str, object]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data, attrs in members:
            info = tarfile.TarInfo(name)
            for key, value in attrs.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _unpack(data: bytes, dest: Path) -> str:
    dest.mkdir()
    return layertar.unpack(io.BytesIO(data), dest)


def test_whiteouts_and_opaque_markers_become_overlay_form(tmp_path: Path) -> None:
    data = _tar(
        ("etc/", None, {"type": tarfile.DIRTYPE, "mode": 0o755}),
        ("etc/.wh.passwd", b"", {}),
        ("var/lib/", None, {"type": tarfile.DIRTYPE, "mode": 0o700, "uid": 7}),
        ("var/lib/.wh..wh..opq", b"", {}),
        ("var/lib/new", b"x", {"mode": 0o4755, "uid": 7, "gid": 8}),
        ("./.wh..wh.plnk", b"", {}),
    )
    dest = tmp_path / "layer"
    diff_id = _unpack(data, dest)
    assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    st = os.lstat(dest / "etc" / "passwd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(dest / "var" / "lib", layertar.OPAQUE_XATTR) == b"y"
    assert not (dest / ".wh..wh.plnk").exists()
    new = os.stat(dest / "var" / "lib" / "new")
    assert (new.st_uid, new.st_gid, stat.S_IMODE(new.st_mode)) == (7, 8, 0o4755)  # setuid kept
    assert stat.S_IMODE(os.stat(dest / "var" / "lib").st_mode) == 0o700


def test_pack_then_unpack_is_the_same_layer(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d" / "sub").mkdir(parents=True)
    (src / "d" / "f").write_text("f")
    os.link(src / "d" / "f", src / "d" / "g")
    (src / "d" / "link").symlink_to("/etc/passwd")
    os.mknod(src / "d" / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(src / "d" / "sub", layertar.OPAQUE_XATTR, b"y")
    os.setxattr(src / "d" / "f", "user.note", b"kept")
    # A file capability (cap_net_bind_service), as ping or a web server's binary carry one.
    cap = bytes.fromhex("0100000200040000000000000000000000000000")
    os.setxattr(src / "d" / "f", "security.capability", cap)
    out = io.BytesIO()
    diff_id = layertar.pack(src, out)
    again = io.BytesIO()
    assert layertar.pack(src, again) == diff_id  # deterministic
    dest = tmp_path / "dest"
    assert _unpack(out.getvalue(), dest) == diff_id
    assert (dest / "d" / "f").read_text() == "f"
    assert os.stat(dest / "d" / "f").st_ino == os.stat(dest / "d" / "g").st_ino
    assert os.readlink(dest / "d" / "link") == "/etc/passwd"
    assert os.lstat(dest / "d" / "gone").st_rdev == os.makedev(0, 0)
    assert os.getxattr(dest / "d" / "sub", layertar.OPAQUE_XATTR) == b"y"
    assert os.getxattr(dest / "d" / "f", "user.note") == b"kept"
    assert os.getxattr(dest / "d" / "f", "security.capability") == cap
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        names = tf.getnames()
    assert "d/.wh.gone" in names and "d/sub/.wh..wh..opq" in names


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("/etc/passwd", b"x", {})], "absolute path"),
        ([("../escape", b"x", {})], "climbs out"),
        ([("a/../../escape", b"x", {})], "climbs out"),
        (
            [
                ("evil", None, {"type": tarfile.SYMTYPE, "linkname": "/tmp"}),
                ("evil/planted", b"x", {}),
            ],
            "passes through the symlink 'evil'",
        ),
        ([("h", None, {"type": tarfile.LNKTYPE, "linkname": "../../etc/passwd"})], "climbs out"),
        ([("h", None, {"type": tarfile.LNKTYPE, "linkname": "/etc/passwd"})], "absolute path"),
        ([("h", None, {"type": tarfile.LNKTYPE, "linkname": "missing"})], "not earlier"),
        (
            [
                ("s", None, {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}),
                ("h", None, {"type": tarfile.LNKTYPE, "linkname": "s"}),
            ],
            "non-file",
        ),
    ],
)
def test_unsafe_members_fail_the_layer(
    members: list[tuple[str, bytes | None, dict[str, object]]], message: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    members = [
        (n, d, {k: (str(outside) if v == "/tmp" else v) for k, v in a.items()})
        for n, d, a in members
    ]
    with pytest.raises(layertar.LayerError, match=message):
        _unpack(_tar(*members), tmp_path / "layer")
    assert not list(outside.iterdir())


def test_a_corrupt_tar_is_a_layer_error(tmp_path: Path) -> None:
    with pytest.raises(layertar.LayerError, match="not a valid tar"):
        _unpack(b"this is not a tar" * 100, tmp_path / "layer")
