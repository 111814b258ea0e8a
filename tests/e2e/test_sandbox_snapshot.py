"""``Sandbox.snapshot_filesystem``: a sandbox's changes (new files and directories, a deleted
image file, a directory replaced) become an image that sandboxes and functions start from, that
``Image.from_id`` finds and that outlives a server restart; the errors say what happened."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import gworker_client as gw
from gworker_client import exception as exc

IMAGE = gw.Image.debian_slim().run_commands(
    "mkdir -p /data/gone /data/keep && echo old > /data/old.txt && echo a > /data/gone/a"
    " && echo kept > /data/keep/k && chmod -R 777 /data"
)
CHANGES = (
    "set -e; rm /data/old.txt; rm -rf /data/gone; mkdir /data/gone; echo fresh > /data/gone/b;"
    " mkdir -p /data/new/deep; echo hi > /data/new/deep/f.txt; chmod 640 /data/new/deep/f.txt;"
    " ln -s deep/f.txt /data/new/link; mkfifo /data/fifo; echo private > /tmp/t;"
    " echo vol > /vol/in-volume"
)
CHECK = (
    "ls /data; echo --; ls /data/gone; echo --; cat /data/new/link /data/keep/k;"
    " stat -c '%a %U %F' /data/new/deep/f.txt /data/fifo /data/new/link;"
    " test -e /tmp/t || echo no-tmp; test -e /data/old.txt || echo no-old;"
    " test -e /vol || echo no-vol"
)
EXPECTED = (
    "fifo\ngone\nkeep\nnew\n--\nb\n--\nhi\nkept\n"
    "640 nobody regular file\n644 nobody fifo\n777 nobody symbolic link\n"
    "no-tmp\nno-old\nno-vol\n"
)


def _run(sb: gw.Sandbox, script: str) -> str:
    p = sb.exec("sh", "-c", script)
    out, err = p.stdout.read(), p.stderr.read()
    assert p.wait() == 0, err
    return out


def _layers(home: Path) -> set[str]:
    return {p.stem for p in (home / "cache" / "images" / "layers").glob("*.json")}


@pytest.fixture
def app(private_server):
    return gw.App.lookup("snapshot-tests", create_if_missing=True)


def test_a_snapshot_is_an_image_for_sandboxes_and_functions(private_server, app, tmp_path):
    vol = gw.Volume.from_name("snapshot-vol", create_if_missing=True)
    sb = gw.Sandbox.create(app=app, image=IMAGE, volumes={"/vol": vol})
    try:
        _run(sb, CHANGES)
        sleeper = sb.exec("sleep", "600")  # processes may run while it is taken
        before = _layers(private_server.home)
        snap = sb.snapshot_filesystem()
        assert sleeper.poll() is None
        # the image's layers are shared: one new layer, and the same changes make the same one
        assert len(_layers(private_server.home) - before) == 1
        again = sb.snapshot_filesystem(timeout=60)
        assert again.object_id == snap.object_id
        assert len(_layers(private_server.home) - before) == 1
    finally:
        sb.terminate()
    assert snap.object_id.startswith("im-")

    sb2 = gw.Sandbox.create(app=app, image=snap)
    try:
        assert _run(sb2, CHECK) == EXPECTED
    finally:
        sb2.terminate()

    # a function, from the image found by id in its app file (and so in its container too)
    app_file = tmp_path / "snapshot_app.py"
    app_file.write_text(
        "import os, subprocess\n"
        "import gworker_client as gw\n"
        f"image = gw.Image.from_id({snap.object_id!r}).env({{'STEP': 'after'}})\n"
        "app = gw.App('snapshot-fn', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        "    return sorted(os.listdir('/data')), open('/data/gone/b').read(), os.environ['STEP']\n"
        "@app.local_entrypoint()\n"
        "def main():\n"
        "    print('RESULT', f.remote())\n"
    )
    r = private_server.gw("run", str(app_file), timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("RESULT", 1)[1].strip() == (
        "(['fifo', 'gone', 'keep', 'new'], 'fresh\\n', 'after')"
    )

    # it is in the image store: listed, and it survives a restart of the server
    out = private_server.gw("image", "list")
    shown = out.stdout + out.stderr
    assert snap.object_id[3:15] in shown and "snapshot" in shown
    private_server.restart()
    found = gw.Image.from_id(snap.object_id)
    again_app = gw.App.lookup("snapshot-tests", create_if_missing=True)
    sb3 = gw.Sandbox.create(app=again_app, image=found)
    try:
        assert _run(sb3, "cat /data/gone/b /data/new/deep/f.txt") == "fresh\nhi\n"
    finally:
        sb3.terminate()

    # the store's collection never takes a snapshot (nothing could make it again); rm does
    assert private_server.gw("image", "prune", "--all").returncode == 0
    assert gw.Image.from_id(snap.object_id).object_id == snap.object_id
    r = private_server.gw("image", "rm", snap.object_id)
    assert r.returncode == 0, r.stderr
    with pytest.raises(exc.NotFoundError, match=snap.object_id):
        gw.Image.from_id(snap.object_id)


def test_snapshot_errors_are_named(private_server, app):
    with pytest.raises(exc.NotFoundError, match="sb-nope"):
        gw.Sandbox.from_id("sb-nope").snapshot_filesystem()
    with pytest.raises(exc.NotFoundError, match="im-" + "0" * 64):
        gw.Image.from_id("im-" + "0" * 64)
    with pytest.raises(exc.InvalidError, match="im-"):
        gw.Image.from_id("not-an-id")
    with pytest.raises(exc.InvalidError, match="has no id"):
        _ = IMAGE.object_id

    sb = gw.Sandbox.create(app=app, workdir="/work")
    try:
        with pytest.raises(exc.InvalidError, match="timeout=0"):
            sb.snapshot_filesystem(timeout=0)
        # far more to copy than a millisecond allows: given up, and nothing of it kept
        _run(sb, "head -c 100000000 /dev/zero > /work/big")
        before = _layers(private_server.home)
        with pytest.raises(exc.TimeoutError, match="did not finish within 0.001 s"):
            sb.snapshot_filesystem(timeout=0.001)
        snap = asyncio.run(sb.snapshot_filesystem.aio())  # the copy given up leaves no layer
        assert len(_layers(private_server.home) - before) == 1
        found = asyncio.run(gw.Image.from_id.aio(snap.object_id))
        assert found.object_id == snap.object_id
    finally:
        sb.terminate()
    with pytest.raises(exc.InvalidError, match="is not running"):
        sb.snapshot_filesystem()
