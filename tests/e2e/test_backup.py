"""``gw server backup`` while the server runs and writes, and ``gw server restore`` into a fresh
GW_HOME: the restored server has every acknowledged write of the snapshot."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading

import gworker_client as gw
from gworker import daemon


def test_backup_while_running_and_restore(private_server, tmp_path):
    srv = private_server
    d = gw.Dict.from_name("kept", create_if_missing=True)
    d["before"] = "backup"
    vol = gw.Volume.from_name("kept-volume", create_if_missing=True)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"volume bytes"), "/file.txt")
    r = srv.gw("secret", "create", "kept-secret", "KEY=value")
    assert r.returncode == 0, r.stderr

    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:  # the server stays busy while the snapshot is taken
        i = 0
        while not stop.is_set():
            d[f"k{i}"] = i
            written.append(i)
            i += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 20:
            pass
        acknowledged_before = len(written)
        r = srv.gw("server", "backup", str(tmp_path / "backup"))
        assert r.returncode == 0, r.stderr
    finally:
        stop.set()
        writer.join()
    db = sqlite3.connect(tmp_path / "backup" / "state.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    # restore into a new GW_HOME and start a server there
    home = tmp_path / "restored"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GW_")}
    env["GW_HOME"] = str(home)
    cli = [sys.executable, "-m", "gworker.cli", "server", "restore", str(tmp_path / "backup")]
    r = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    proc = daemon.spawn_server(home, env=env)
    info = daemon.wait_until_up(home, proc)
    try:
        env.update(GW_SERVER_URL=info["url"])
        script = (
            "import gworker_client as gw, json\n"
            "d = gw.Dict.from_name('kept')\n"
            "keys = [k for k in d.keys() if k.startswith('k')]\n"
            "v = b''.join(gw.Volume.from_name('kept-volume').read_file('file.txt'))\n"
            "print(json.dumps([d['before'], len(keys), v.decode()]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        before, keys, volume = json.loads(out.stdout)
        assert (before, volume) == ("backup", "volume bytes")
        assert keys >= acknowledged_before  # every write acknowledged before it began
        secrets = subprocess.run(
            [sys.executable, "-m", "gworker.cli", "secret", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "kept-secret" in secrets.stdout + secrets.stderr
        # the key that decrypts the snapshot's secrets came along
        assert (home / "secrets.key").read_bytes() == (srv.home / "secrets.key").read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
