"""gw.Volume against a real control plane: the SDK from outside, and mounts in containers
(commit, reload, concurrent commits, commit on graceful exit)."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid

import pytest

os.environ.setdefault("SV_LOCAL", "local-env-5e8b22")  # read by Secret.from_local_environ at import

import secret_volume_app as sva  # noqa: E402

import gworker_client as gw  # noqa: E402
from gworker_client import _api  # noqa: E402
from gworker_client._secret import create_named  # noqa: E402
from gworker_client._volume import CHUNK_BYTES, FileEntryType  # noqa: E402


def unique(prefix: str = "v") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def vol(server):
    with gw.Volume.ephemeral() as v:
        yield v


@pytest.fixture
def running(server):
    create_named(
        sva.NAMED_SECRET, {"SV_NAMED": "n", "SV_NAMED_OTHER": "o"}, force=True
    )  # the app's env function needs it
    with sva.app.run():
        yield sva.app


@pytest.fixture
def sub() -> str:
    """A directory of the shared test volume of this test's own."""
    return unique("t")


def read(v: gw.Volume, path: str) -> bytes:
    return b"".join(v.read_file(path))


def take(q: gw.Queue, n: int) -> list[str]:
    """``n`` items from ``q``, waiting for each (a container puts one when it is ready)."""
    items: list[str] = []
    while len(items) < n:
        got = q.get(timeout=60)
        assert got is not None, f"only {items} arrived"
        items.append(got)
    return items


def blob_count(server) -> int:
    return sum(1 for p in (server.home / "volumes" / "blobs").rglob("*") if p.is_file())


# -- outside containers --------------------------------------------------------------------------


def test_upload_list_read_remove(vol, tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "one.txt").write_text("1")
    (tmp_path / "d" / "e" / "two.txt").write_text("22")
    (tmp_path / "single.bin").write_bytes(b"\x00\x01")
    with vol.batch_upload() as batch:
        batch.put_file(tmp_path / "single.bin", "/bin/single.bin")
        batch.put_file(io.BytesIO(b"from memory"), "mem.txt")
        batch.put_directory(tmp_path / "d", "/tree")
    top = vol.listdir("/")
    assert [(e.path, e.type.value) for e in top] == [
        ("bin", "dir"),
        ("mem.txt", "file"),
        ("tree", "dir"),
    ]
    assert [e.path for e in vol.listdir("tree", recursive=True)] == [
        "tree/e",
        "tree/e/two.txt",
        "tree/one.txt",
    ]
    entry = vol.listdir("/tree/e/two.txt")[0]
    assert entry.type == FileEntryType.FILE and entry.type == "file" and entry.size == 2
    assert entry.mtime == pytest.approx((tmp_path / "d" / "e" / "two.txt").stat().st_mtime)
    assert read(vol, "tree/e/two.txt") == b"22" and read(vol, "/bin/single.bin") == b"\x00\x01"
    with pytest.raises(gw.exception.NotFoundError, match="no file 'nope.txt'"):
        vol.read_file("nope.txt")
    with pytest.raises(gw.exception.InvalidError, match="recursive=True"):
        vol.remove_file("tree")
    vol.remove_file("tree", recursive=True)
    vol.remove_file("/mem.txt")
    assert [e.path for e in vol.listdir("/", recursive=True)] == ["bin", "bin/single.bin"]
    with pytest.raises(gw.exception.NotFoundError):
        vol.listdir("tree")
    with pytest.raises(gw.exception.NotFoundError):
        vol.remove_file("tree", recursive=True)


def test_batch_upload_refuses_existing_paths_unless_forced(vol):
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"old"), "a.txt")
    batch = vol.batch_upload()
    batch.put_file(io.BytesIO(b"new"), "b.txt")
    batch.put_file(io.BytesIO(b"new"), "a.txt")
    with pytest.raises(gw.exception.AlreadyExistsError, match="'a.txt'.*force=True"):
        batch.upload()
    assert [e.path for e in vol.listdir()] == ["a.txt"]  # nothing of the batch was written
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"new"), "a.txt")
    assert read(vol, "a.txt") == b"new"
    with vol.batch_upload(force=True) as batch:  # a file where a directory was, and back
        batch.put_file(io.BytesIO(b"deep"), "a.txt/inside")
    assert [e.path for e in vol.listdir(recursive=True)] == ["a.txt", "a.txt/inside"]


def test_same_content_is_stored_once_and_released_when_unused(server, vol):
    content = os.urandom(1000)
    before = blob_count(server)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(content), "one")
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(content), "two")
        batch.put_file(io.BytesIO(content), "dir/three")
    with gw.Volume.ephemeral() as other, other.batch_upload() as batch:
        batch.put_file(io.BytesIO(content), "elsewhere")
    assert blob_count(server) == before + 1
    assert read(vol, "dir/three") == content
    vol.remove_file("one")
    vol.remove_file("two")
    assert blob_count(server) == before + 1  # dir/three still uses it
    vol.remove_file("dir", recursive=True)
    assert blob_count(server) == before


def test_large_file_goes_in_chunks_both_ways(vol, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(5):
            f.write(os.urandom(CHUNK_BYTES // 2))
        f.write(b"tail")
    with vol.batch_upload() as batch:
        batch.put_file(big, "/big.bin")
    pieces = list(vol.read_file("big.bin"))
    assert len(pieces) == 3 and max(len(p) for p in pieces) <= CHUNK_BYTES
    assert hashlib.sha256(b"".join(pieces)).digest() == hashlib.sha256(big.read_bytes()).digest()


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "..", "a/.."])
def test_paths_cannot_leave_the_volume(vol, bad):
    with pytest.raises(gw.exception.InvalidError, match="'..'"):
        vol.listdir(bad)
    with pytest.raises(gw.exception.InvalidError, match="'..'"):
        vol.batch_upload().put_file(io.BytesIO(b"x"), bad)


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a//b", "a/./b", "x\0y"])
def test_the_server_refuses_paths_outside_or_unnormalized(vol, bad):
    with pytest.raises(gw.exception.InvalidError, match="volume path"):
        _api.client().post(vol._url("listdir"), {"path": bad})
    digest = hashlib.sha256(b"x").hexdigest()
    with pytest.raises(gw.exception.InvalidError, match="volume path"):
        _api.client().post(
            vol._url("commit"),
            {"id": uuid.uuid4().hex, "changes": [[bad, digest, 1, 0o644, 0.0]], "deletions": []},
        )


def test_names_ephemeral_and_delete(server):
    name = unique()
    with pytest.raises(gw.exception.NotFoundError, match=f"gw volume create {name}"):
        gw.Volume.from_name(name).listdir()
    v = gw.Volume.from_name(name, create_if_missing=True)
    assert v.listdir() == []
    with pytest.raises(gw.exception.InvalidError, match="1 to 64 characters"):
        gw.Volume.from_name("bad name")
    gw.Volume.delete(name)
    with pytest.raises(gw.exception.NotFoundError):
        gw.Volume.from_name(name).hydrate()
    with gw.Volume.ephemeral() as eph, eph.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x"), "x")
    with pytest.raises(gw.exception.NotFoundError, match="does not exist"):
        eph.listdir()


def test_commit_and_reload_are_for_containers(vol):
    with pytest.raises(gw.exception.InvalidError, match="is for code running in a container"):
        vol.commit()
    with pytest.raises(gw.exception.InvalidError, match="is for code running in a container"):
        vol.reload()


def test_volume_survives_a_restart(private_server):
    v = gw.Volume.from_name("durable", create_if_missing=True)
    with v.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"kept"), "/k/kept.txt")
    private_server.restart()
    assert read(gw.Volume.from_name("durable"), "k/kept.txt") == b"kept"


# -- in containers ---------------------------------------------------------------------------


def test_commit_in_one_container_is_seen_by_the_sdk_and_new_containers(running, sub):
    sva.write.remote(f"/data/{sub}/a.txt", "A")
    assert read(sva.vol, f"{sub}/a.txt") == b"A"
    assert sva.Reader().read.remote(f"/data/{sub}/a.txt") == "A"  # a class mounts it too
    sva.remove.remote(f"/data/{sub}/a.txt")  # a deletion is a change too
    with pytest.raises(gw.exception.NotFoundError):
        sva.vol.listdir(sub)


def test_files_uploaded_from_outside_are_in_a_container(running, sub):
    with sva.vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"uploaded"), f"/{sub}/in.txt")
    assert sva.read.remote(f"/data/{sub}/in.txt") == "uploaded"


def test_concurrent_commits_of_different_files_both_survive(running, sub):
    with gw.Queue.ephemeral() as ready, gw.Queue.ephemeral() as go:
        a = sva.gated_write_a.spawn(f"/data/{sub}/a.txt", "A", ready, go)
        b = sva.gated_write_b.spawn(f"/data/{sub}/b.txt", "B", ready, go)
        assert sorted(take(ready, 2)) == [f"/data/{sub}/a.txt", f"/data/{sub}/b.txt"]
        go.put_many(["go", "go"])
        # each container started from the version without the other's file
        assert a.get(timeout=60) == ["a.txt"] and b.get(timeout=60) == ["b.txt"]
    assert [e.path for e in sva.vol.listdir(sub)] == [f"{sub}/a.txt", f"{sub}/b.txt"]


def test_last_writer_wins_on_the_same_file(running, sub):
    path = f"/data/{sub}/same.txt"
    with (
        gw.Queue.ephemeral() as ready,
        gw.Queue.ephemeral() as go_a,
        gw.Queue.ephemeral() as go_b,
    ):
        a = sva.gated_write_a.spawn(path, "first", ready, go_a)
        b = sva.gated_write_b.spawn(path, "second", ready, go_b)
        take(ready, 2)
        go_a.put("go")
        a.get(timeout=60)
        assert read(sva.vol, f"{sub}/same.txt") == b"first"
        go_b.put("go")  # b started before a's commit, and commits after it
        b.get(timeout=60)
    assert read(sva.vol, f"{sub}/same.txt") == b"second"


def test_reload_sees_another_containers_commit(running, sub):
    path = f"/data/{sub}/news.txt"
    with gw.Queue.ephemeral() as ready, gw.Queue.ephemeral() as go:
        reader = sva.read_before_and_after_reload.spawn(path, ready, go)
        take(ready, 1)
        sva.write.remote(path, "fresh")  # another container commits
        go.put("go")
        assert reader.get(timeout=60) == (None, "fresh")


def test_symlink_out_of_the_volume_is_refused_at_commit(running, sub):
    message = sva.commit_symlink_out.remote(f"/data/{sub}/link")
    assert f"/data/{sub}/link is a symlink" in message and "outside the volume" in message


def test_commit_or_reload_of_a_volume_not_mounted_here(running):
    problems = sva.mount_problems.remote()
    assert len(problems) == 2 and all("is not mounted in this container" in p for p in problems)


def test_uncommitted_writes_are_committed_on_graceful_exit(server, sub):
    create_named(sva.NAMED_SECRET, {"SV_NAMED": "n", "SV_NAMED_OTHER": "o"}, force=True)
    with sva.app.run():
        sva.write.remote(f"/data/{sub}/late.txt", "bye", commit=False)
        assert [e.path for e in sva.vol.listdir("/")].count(sub) == 0  # not committed yet
    deadline = time.monotonic() + 30  # the app stopped: its containers exit and commit
    while time.monotonic() < deadline:
        try:
            assert read(sva.vol, f"{sub}/late.txt") == b"bye"
            return
        except gw.exception.NotFoundError:
            time.sleep(0.1)
    raise AssertionError("the container did not commit its writes when it stopped")
