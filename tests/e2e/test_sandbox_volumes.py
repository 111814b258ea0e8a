"""Volumes in sandboxes: filled before the sandbox starts, committed when it ends, by a keeper the
sandbox cannot reach."""

from __future__ import annotations

import io
import uuid

import pytest

import gworker_client as gw
from gworker_client.exception import InvalidError


@pytest.fixture(scope="module")
def app(server):
    return gw.App.lookup("sandbox-volumes", create_if_missing=True)


@pytest.fixture
def vol(server):
    v = gw.Volume.from_name(f"sbvol-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    with v.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"from before\n"), "/seed.txt")
    return v


def read(vol: gw.Volume, path: str) -> bytes:
    return b"".join(vol.read_file(path))


def test_a_sandbox_sees_the_volume_and_its_writes_are_committed_at_its_end(app, vol):
    sb = gw.Sandbox.create(app=app, volumes={"/data": vol})
    assert sb.exec("cat", "/data/seed.txt").stdout.read() == "from before\n"
    assert sb.exec("sh", "-c", "mkdir -p /data/out && echo made > /data/out/new.txt").wait() == 0
    with sb.open("/data/written.bin", "wb") as f:
        f.write(b"\x00\x01")
    sb.rm("/data/seed.txt")
    sb.terminate()
    sb.wait(raise_on_termination=False)
    assert read(vol, "out/new.txt") == b"made\n"
    assert read(vol, "written.bin") == b"\x00\x01"
    assert "seed.txt" not in [e.path for e in vol.listdir("/")]
    # a later sandbox starts from what the first one left
    later = gw.Sandbox.create("cat", "/data/out/new.txt", app=app, volumes={"/data": vol})
    assert later.stdout.read() == "made\n"


def test_a_main_command_that_exits_commits_too(app, vol):
    sb = gw.Sandbox.create("sh", "-c", "echo done > /v/result", app=app, volumes={"/v": vol})
    sb.wait()
    assert read(vol, "result") == b"done\n"


def test_the_keeper_and_its_token_are_out_of_reach(app, vol):
    sb = gw.Sandbox.create(app=app, volumes={"/data": vol})
    try:
        env = sb.exec("env").stdout.read()
        assert "GW_TOKEN" not in env and "GW_SERVER_URL" not in env
        # only the sandbox's own processes are visible: not the keeper's
        procs = sb.exec("sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout.read()
        assert "volume_keeper" not in procs
        # a link out of the volume is not followed at commit: the commit is refused, and says so
        sb.exec("ln", "-s", "/etc/shadow", "/data/leak").wait()
    finally:
        sb.terminate()
    sb.wait(raise_on_termination=False)
    assert "committing its volumes failed" in sb.info()["info"]
    assert "leak" not in [e.path for e in vol.listdir("/")]


def test_bad_volume_mounts_are_refused(app, vol):
    with pytest.raises(InvalidError, match="absolute"):
        gw.Sandbox.create(app=app, volumes={"data": vol})
    with pytest.raises(InvalidError, match="not a gw.Volume"):
        gw.Sandbox.create(app=app, volumes={"/data": "vol"})
