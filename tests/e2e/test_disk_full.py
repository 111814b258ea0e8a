"""A full disk under GW_HOME: requests that cannot be stored get a clear error (507) naming the
full disk, the server keeps answering, and every acknowledged write survives a restart."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import gworker_client as gw
from gworker import daemon
from gworker_client import _api

VALUE = b"v" * (256 * 1024)


@pytest.fixture
def small_home(tmp_path: Path):
    """A GW_HOME on a 12 MiB tmpfs of its own (mounting needs root; skipped without it)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)])
    if r.returncode != 0:
        pytest.fail("mounting a small tmpfs needs root")
    try:
        yield mnt / "home"
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def _start(home: Path, monkeypatch: pytest.MonkeyPatch) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    proc = daemon.spawn_server(home, env=env)
    info = daemon.wait_until_up(home, proc)
    token = json.loads((home / "token.json").read_text())
    monkeypatch.setenv("GW_SERVER_URL", info["url"])
    monkeypatch.setenv("GW_TOKEN_ID", token["token_id"])
    monkeypatch.setenv("GW_TOKEN_SECRET", token["token_secret"])
    monkeypatch.setenv("GW_HOME", str(home))
    _api.reset_client()
    return proc


def test_a_full_disk_is_a_clear_error_and_loses_nothing_acknowledged(small_home, monkeypatch):
    proc = _start(small_home, monkeypatch)
    ballast = small_home.parent / "ballast"
    ballast.write_bytes(b"\0" * (1024 * 1024))  # freed later, so the server can restart
    acknowledged: list[str] = []
    try:
        d = gw.Dict.from_name("filling", create_if_missing=True)
        with pytest.raises(gw.exception.Error, match="disk is full") as failure:
            for i in range(200):  # 50 MiB: far more than the disk holds
                d[f"k{i}"] = VALUE
                acknowledged.append(f"k{i}")
        assert "internal error" not in str(failure.value)
        assert acknowledged, "nothing fit at all"
        assert gw.Dict.from_name("filling").len() >= len(acknowledged)  # still answering
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    ballast.unlink()
    proc = _start(small_home, monkeypatch)
    try:
        d = gw.Dict.from_name("filling")
        for key in acknowledged:
            assert d[key] == VALUE, key
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        _api.reset_client()
