"""gw.NetworkFileSystem: one directory shared by every container that mounts it and by local
code, writes visible at once; its file API, CLI and the mistakes it refuses."""

from __future__ import annotations

import asyncio
import io
import os
import time
import uuid
from pathlib import Path

import nfs_app
import pytest

import gworker_client as gw
from gworker_client._volume import FileEntryType


def _unique() -> str:
    return uuid.uuid4().hex[:8]


def test_containers_and_the_client_share_writes_at_once(server):
    name = f"{_unique()}/greeting.txt"
    with nfs_app.app.run():
        # a running container sees a file another one writes, without commit or reload
        waiting = nfs_app.wait_for.spawn(f"{name}.ready")
        assert nfs_app.write.remote(name, "hello") == 5
        assert nfs_app.read.remote(name) == "hello"
        assert b"".join(nfs_app.nfs.read_file(name)) == b"hello"
        nfs_app.nfs.write_file(f"{name}.ready", io.BytesIO(b"from the client"))
        assert waiting.get(timeout=60) == "from the client"

    folder = name.split("/")[0]
    entries = {e.path: e for e in nfs_app.nfs.listdir(folder)}
    assert set(entries) == {name, f"{name}.ready"}
    assert entries[name].size == 5 and entries[name].type == FileEntryType.FILE
    assert [e.path for e in nfs_app.nfs.listdir(f"{folder}/*.ready")] == [f"{name}.ready"]
    assert [e.path for e in nfs_app.nfs.iterdir("/", recursive=True) if e.path == name] == [name]
    with pytest.raises(gw.exception.InvalidError, match="recursive=True"):
        nfs_app.nfs.remove_file(folder)
    nfs_app.nfs.remove_file(folder, recursive=True)
    with pytest.raises(gw.exception.NotFoundError):
        nfs_app.nfs.listdir(folder)
    with pytest.raises(gw.exception.NotFoundError, match="has no file"):
        list(nfs_app.nfs.read_file(name))


def test_large_files_ephemeral_and_aio(server, tmp_path):
    big = bytes(range(256)) * (40 * 1024 + 3)  # over one 8 MiB chunk
    with gw.NetworkFileSystem.ephemeral() as nfs:
        assert nfs.write_file("big.bin", io.BytesIO(big)) == len(big)
        assert b"".join(nfs.read_file("/big.bin")) == big
        local = tmp_path / "tree"
        (local / "sub").mkdir(parents=True)
        (local / "sub" / "a.txt").write_text("a")
        nfs.add_local_dir(local, "/up")
        assert [e.path for e in nfs.listdir("up", recursive=True)] == [
            "up/sub",
            "up/sub/a.txt",
        ]

        async def use() -> bytes:
            await nfs.write_file.aio("aio.txt", io.BytesIO(b"async"))
            return b"".join([c async for c in nfs.read_file.aio("aio.txt")])

        assert asyncio.run(use()) == b"async"
        nid = nfs.object_id
    with pytest.raises(gw.exception.NotFoundError):
        gw.NetworkFileSystem(object_id=nid).listdir("/")  # deleted with its block


def test_bad_input_is_refused(server):
    nfs = gw.NetworkFileSystem.from_name(f"nfs-{_unique()}", create_if_missing=True)
    with pytest.raises(gw.exception.InvalidError, match="contains '..'"):
        nfs.write_file("../escape", io.BytesIO(b"x"))
    app = gw.App("nfs-bad")
    with pytest.raises(gw.exception.InvalidError, match="must be an absolute path"):
        app.function(network_file_systems={"shared": nfs})(lambda: None)
    with pytest.raises(gw.exception.InvalidError, match="is not a gw.NetworkFileSystem"):
        app.function(network_file_systems={"/shared": gw.Volume.from_name("v")})(lambda: None)
    with pytest.raises(gw.exception.InvalidError, match="of a volume and of a network file"):
        app.function(
            volumes={"/shared": gw.Volume.from_name("v")}, network_file_systems={"/shared": nfs}
        )(lambda: None)
    with pytest.raises(gw.exception.NotFoundError, match="gw nfs create"):
        gw.NetworkFileSystem.from_name("nfs-missing-1").listdir("/")


def test_cli(server, tmp_path):
    name = f"nfs-{_unique()}"
    assert server.gw("nfs", "create", name).returncode == 0
    (tmp_path / "a.txt").write_text("alpha")
    r = server.gw("nfs", "put", name, str(tmp_path / "a.txt"), "/docs/")
    assert r.returncode == 0, r.stderr
    r = server.gw("nfs", "ls", name, "docs")
    assert r.returncode == 0 and "docs/a.txt" in r.stderr
    r = server.gw("nfs", "get", name, "docs/a.txt", "-")
    assert r.returncode == 0 and r.stdout == "alpha"
    listed = server.gw("nfs", "list")
    assert name in listed.stderr
    assert server.gw("nfs", "rm", name, "docs", "-r").returncode == 0
    assert server.gw("nfs", "delete", name, "--yes").returncode == 0
    r = server.gw("nfs", "ls", name)
    assert r.returncode == 1 and "no nfs named" in r.stderr


def _nfs_with_root(server) -> tuple[gw.NetworkFileSystem, Path]:
    nfs = gw.NetworkFileSystem.from_name(f"nfs-{_unique()}", create_if_missing=True)
    nfs.write_file("first.txt", io.BytesIO(b"x"))
    return nfs, server.home / "nfs" / nfs.object_id


def test_symlinks_a_container_made_are_never_followed(server, tmp_path):
    nfs, root = _nfs_with_root(server)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    (root / "link").symlink_to(outside)  # what a container could put there at any moment
    with pytest.raises(gw.exception.InvalidError, match="symlinks are not followed"):
        list(nfs.read_file("link/secret"))
    with pytest.raises(gw.exception.InvalidError, match="symlinks are not followed"):
        nfs.write_file("link/new", io.BytesIO(b"x"))
    with pytest.raises(gw.exception.InvalidError, match="symlinks are not followed"):
        nfs.remove_file("link/secret")
    assert [e.path for e in nfs.listdir("link")] == ["link"]  # the link itself, not its target
    assert nfs.listdir("link/*") == []
    assert [e.path for e in nfs.listdir("**/secret")] == []
    assert sorted(os.listdir(outside)) == ["secret"]
    # a file written over the link replaces the link; the target keeps its owner
    before = os.stat(outside / "secret").st_uid
    nfs.write_file("link", io.BytesIO(b"replaced"))
    assert not (root / "link").is_symlink() and os.stat(outside / "secret").st_uid == before
    nfs.remove_file("link")
    assert (outside / "secret").read_text() == "host file"


def test_upload_token_and_length_are_checked(server):
    nfs, root = _nfs_with_root(server)
    with pytest.raises(gw.exception.InvalidError, match=r"upload='\.\./\.\./escape1'"):
        nfs._post("write", {"path": "a", "data": b"x", "upload": "../../escape1", "last": True})
    for bad in ("abc", None, -1):
        with pytest.raises(gw.exception.InvalidError, match=f"length={bad!r}"):
            nfs._post("read", {"path": "first.txt", "length": bad})


def test_abandoned_uploads_are_swept(server):
    nfs, root = _nfs_with_root(server)
    stale = root.parent / ".uploads" / f"{nfs.object_id}-abandoned1"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    nfs.write_file("second.txt", io.BytesIO(b"y"))
    assert not stale.exists()
