"""nfs_tree: a network file system's tree reached through fds, so that a container swapping a
folder for a symlink while the server works cannot steer it outside (or make it chown a host
file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gworker import isolation
from gworker.server.errors import InvalidRequest
from gworker.server.nfs_tree import Tree


@pytest.fixture
def as_root() -> None:
    assert os.geteuid() == 0, "ownership changes only as root: run the suite as root (make test)"


def test_a_folder_swapped_after_it_was_opened_is_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("inside")
    outside.mkdir()
    (outside / "f").write_text("host file")
    tree = Tree(root, "nfs")
    with tree.parent("d/f") as (pfd, name):
        (root / "d").rename(root / "moved")  # the race: swapped between resolve and use
        (root / "d").symlink_to(outside)
        with os.fdopen(os.open(name, os.O_RDONLY, dir_fd=pfd)) as f:
            assert f.read() == "inside"
    with pytest.raises(InvalidRequest, match="symlinks are not followed"):
        tree.read("d/f", 0, 100)


def test_hand_over_does_not_follow_a_symlink(tmp_path: Path, as_root: None) -> None:
    target = tmp_path / "host-file"
    target.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(target)
    isolation.hand_over(link)
    assert target.stat().st_uid == 0 and link.lstat().st_uid == isolation.NOBODY


def test_a_placed_file_is_given_away_on_its_fd_before_the_rename(
    tmp_path: Path, as_root: None
) -> None:
    root, uploads = tmp_path / "root", tmp_path / "uploads"
    root.mkdir()
    uploads.mkdir()
    (uploads / "part").write_text("data")
    ufd = os.open(uploads, os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open("part", os.O_RDWR, dir_fd=ufd)
    seen = []

    def replace(src: str, dst: str, **kw: int) -> None:
        seen.append(os.fstat(fd).st_uid)  # owner at the moment of the rename
        real_replace(src, dst, **kw)

    real_replace, os.replace = os.replace, replace  # type: ignore[assignment]
    try:
        Tree(root, "nfs").place("new/dir/file", fd, ufd, "part")
    finally:
        os.replace = real_replace  # type: ignore[assignment]
        os.close(fd)
        os.close(ufd)
    assert seen == [isolation.NOBODY]
    assert (root / "new" / "dir" / "file").read_text() == "data"
    assert (root / "new").stat().st_uid == isolation.NOBODY
    assert (root / "new" / "dir").stat().st_uid == isolation.NOBODY
