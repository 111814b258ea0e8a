"""Sandbox file access (``sb.open``, ``ls``, ``mkdir``, ``rm``), done inside the sandbox as its
user, through the real control plane."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest

import gworker_client as gw
from gworker_client.exception import InvalidError


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup("sandbox-files", create_if_missing=True)


@pytest.fixture(scope="module")
def sb(app) -> Iterator[gw.Sandbox]:
    sb = gw.Sandbox.create(app=app, workdir="/work")
    yield sb
    sb.terminate()


def test_write_then_read_text_and_binary(sb):
    with sb.open("/tmp/a.txt", "w") as f:
        f.write("héllo\n")
        f.write("second line\n")
        f.flush()
    with sb.open("/tmp/a.txt") as f:
        assert f.read() == "héllo\nsecond line\n"
    # what the sandbox's own commands see
    assert sb.exec("cat", "/tmp/a.txt").stdout.read() == "héllo\nsecond line\n"
    f = sb.open("/tmp/a.txt", "rb")
    assert f.read(2) == b"h\xc3"
    assert f.read() == b"\xa9llo\nsecond line\n"
    f.close()
    assert f.closed
    with pytest.raises(ValueError, match="closed file"):
        f.read()


def test_large_binary_round_trip_crosses_many_chunks(sb):
    blob = bytes(range(256)) * 8192 + b"tail"  # 2 MiB and a bit
    with sb.open("/tmp/blob", "wb") as f:
        f.write(blob)
    with sb.open("/tmp/blob", "rb") as f:
        assert f.read() == blob
    assert sb.exec("stat", "-c", "%s", "/tmp/blob").stdout.read().strip() == str(len(blob))


def test_seek_readline_append_and_plus_modes(sb):
    with sb.open("/tmp/lines", "w") as f:
        f.write("one\ntwo\nthree")
    with sb.open("/tmp/lines", "a") as f:
        f.write("\nfour\n")
    with sb.open("/tmp/lines", "r+") as f:
        assert f.readline() == "one\n"
        assert f.readline() == "two\n"
        assert f.seek(0) == 0
        assert f.readlines() == ["one\n", "two\n", "three\n", "four\n"]
        assert f.seek(-5, 2) == len("one\ntwo\nthree\n")
        f.write("FOUR")
        f.seek(0)
        assert list(f)[-1] == "FOUR\n"
    with sb.open("/tmp/lines", "rb") as f:
        f.seek(4)
        assert f.read(3) == b"two"


def test_relative_paths_are_from_the_workdir(sb):
    with sb.open("rel.txt", "w") as f:
        f.write("x")
    assert "rel.txt" in sb.ls("/work")
    assert sb.exec("cat", "/work/rel.txt").stdout.read() == "x"


def test_ls_mkdir_rm(sb):
    sb.mkdir("/tmp/d/e/f", parents=True)
    sb.mkdir("/tmp/d/e/f", parents=True)  # exists: fine with parents
    with pytest.raises(FileExistsError):
        sb.mkdir("/tmp/d")
    with pytest.raises(FileNotFoundError):
        sb.mkdir("/tmp/nope/x")
    with sb.open("/tmp/d/file", "w") as f:
        f.write("1")
    assert sb.ls("/tmp/d") == ["e", "file"]
    assert sb.ls("/tmp/d/e/f") == []
    with pytest.raises(OSError, match="not empty"):
        sb.rm("/tmp/d")
    sb.rm("/tmp/d/file")
    sb.rm("/tmp/d", recursive=True)
    assert "d" not in sb.ls("/tmp")
    with pytest.raises(FileNotFoundError):
        sb.rm("/tmp/d")
    with pytest.raises(NotADirectoryError):
        sb.ls("/tmp/blob")


def test_errors_are_the_kernels_as_python_raises_them(sb):
    with pytest.raises(FileNotFoundError, match="No such file"):
        sb.open("/tmp/missing")
    with pytest.raises(IsADirectoryError):
        sb.open("/tmp", "r")
    with pytest.raises(FileExistsError):
        sb.open("/tmp/blob", "x")
    with pytest.raises(ValueError, match="invalid mode"):
        sb.open("/tmp/x", "rw")
    with sb.open("/tmp/blob", "rb") as f:
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"no")
        with pytest.raises(TypeError):
            sb.open("/tmp/t", "w").write(b"bytes into text")
    with pytest.raises(InvalidError, match="path"):
        sb.ls("")


def test_file_access_is_the_sandbox_users(sb):
    # root-only files stay unreadable, the read-only image and system dirs unwritable
    with pytest.raises(PermissionError):
        sb.open("/etc/shadow", "rb")
    with pytest.raises((PermissionError, OSError)):
        sb.open("/usr/bin/gworker-planted", "w")
    with pytest.raises((PermissionError, OSError)):
        sb.rm("/etc/hostname")
    # the host's files outside the view do not exist here at all
    assert "gworker" not in " ".join(sb.ls("/"))


def test_ended_sandbox_refuses_file_access(app):
    sb = gw.Sandbox.create(app=app)
    sb.terminate()
    with pytest.raises(InvalidError, match="not running"):
        sb.ls("/")


def test_aio_forms(sb):
    async def go() -> tuple[str, list[str]]:
        f = await sb.open.aio("/tmp/aio.txt", "w")
        async with f:
            await f.write.aio("async")
        await sb.mkdir.aio("/tmp/aio-dir")
        async with await sb.open.aio("/tmp/aio.txt") as g:
            text = await g.read.aio()
        names = await sb.ls.aio("/tmp")
        await sb.rm.aio("/tmp/aio-dir")
        return text, names

    text, names = asyncio.run(go())
    assert text == "async"
    assert "aio-dir" in names and "aio.txt" in names


def test_hostile_paths_do_not_widen_access(sb):
    # a link planted by code in the sandbox is followed as the sandbox's user: still refused
    sb.exec("ln", "-sf", "/etc/shadow", "/tmp/innocent").wait()
    with pytest.raises(PermissionError):
        sb.open("/tmp/innocent", "rb")
    with pytest.raises(PermissionError):
        sb.open("/proc/1/root/etc/shadow", "rb")
    # a FIFO nobody writes to answers at once instead of hanging the request
    sb.exec("mkfifo", "/tmp/fifo").wait()
    with pytest.raises(OSError, match="not a regular file"):
        sb.open("/tmp/fifo", "rb")


def test_open_files_are_bounded(app):
    sb = gw.Sandbox.create(app=app)
    try:
        handles = [sb.open(f"/tmp/many-{n}", "w") for n in range(256)]
        with pytest.raises(OSError, match="at most 256"):
            sb.open("/tmp/one-too-many", "w")
        for f in handles:
            f.close()
        with sb.open("/tmp/after", "w") as f:  # closing gave them back
            f.write("ok")
    finally:
        sb.terminate()
