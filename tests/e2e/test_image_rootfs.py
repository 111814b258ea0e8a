"""Images as root filesystems through the real server: apt inside the image with the host
unchanged, build steps that write anywhere, layers exported and imported into a fresh GW_HOME,
and `gw image`."""

from __future__ import annotations

import subprocess

import pytest
import rootfs_app
from rootfs_app import app

import gworker_client as gw
from gworker import isolation
from gworker.images import ImageBuilder, transfer
from gworker_client import _api


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield


def _host_has(package: str) -> bool:
    return subprocess.run(["dpkg", "-s", package], capture_output=True).returncode == 0


def test_build_steps_write_anywhere_and_apt_never_touches_the_host(running):
    assert not _host_has(rootfs_app.APT_PACKAGE)
    assert rootfs_app.inside.remote() == {
        "weights": "\x00weights",
        "cache": '{"vocab": 3}',
        "note": "from-run-commands",
        "apt": True,
        "uid": 0,
    }
    assert not _host_has(rootfs_app.APT_PACKAGE)


def test_export_and_import_into_a_fresh_home(running, server, tmp_path):
    spec = rootfs_app.image.to_spec()
    out = _api.client().post("/v1/images/export", {"spec": spec})
    blobs = server.home / "blobs"
    manifest = transfer.Manifest.from_json(
        (blobs / out["manifest"][:2] / out["manifest"]).read_bytes()
    )
    assert [ref.blob for ref in manifest.layers] == out["layers"]
    fresh = ImageBuilder(tmp_path / "fresh-home", lambda sha: b"")
    record = transfer.ensure_local(fresh.store, manifest, transfer.blob_dir_fetch(blobs))
    built = fresh.from_record(record, spec)
    rootfs = built.rootfs()
    code = "print(open('/models/weights.bin', 'rb').read()[1:].decode(),"
    code += " open('/srv/data/note.txt').read().strip())"
    argv = isolation.command(built, [built.python, "-c", code], root=rootfs.merged)
    done = subprocess.run(
        argv, env=built.environ(), capture_output=True, text=True, preexec_fn=rootfs.mount_in_child
    )
    assert done.stdout.split() == ["weights", "from-run-commands"], done.stderr


def test_gw_image_list_and_prune(running, server):
    assert rootfs_app.inside.remote()["apt"]  # a container of the app's image: it is in use
    listed = server.gw("image", "list")
    assert listed.returncode == 0, listed.stderr
    shown = listed.stdout + listed.stderr
    assert "images" in shown and "3.11" in shown and "yes" in shown  # the app's image is in use
    rows = _api.client().get("/v1/images")["images"]
    victim = next(r["key"] for r in rows if not r["in_use"])
    removed = server.gw("image", "rm", victim[:12])
    assert removed.returncode == 0 and f"removed {victim[:12]}" in removed.stdout + removed.stderr
    pruned = server.gw("image", "prune", "--all")
    assert pruned.returncode == 0 and "removed" in pruned.stdout + pruned.stderr, pruned.stderr
    assert rootfs_app.inside.remote()["apt"]  # what runs keeps its layers
    bad = server.gw("image", "rm", "zz")
    assert bad.returncode != 0 and "at least 6 characters" in (bad.stderr + bad.stdout)


def test_a_missing_apt_package_fails_the_build_naming_it(server, tmp_path):
    app_file = tmp_path / "bad_apt.py"
    app_file.write_text(
        "import gworker_client as gw\n"
        "image = gw.Image.debian_slim().apt_install('gworker-no-such-package')\n"
        "app = gw.App('bad-apt', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        "    return 1\n"
    )
    r = server.gw("run", str(app_file))
    assert r.returncode != 0
    said = " ".join(r.stderr.split())  # the terminal may wrap the message
    assert "apt has no package 'gworker-no-such-package'" in said
    assert "(apt_install gworker-no-such-package)" in said


def test_sandboxes_run_on_the_image_root(running):
    sb = gw.Sandbox.create(app=app, image=rootfs_app.image, block_network=True)
    try:
        p = sb.exec("sh", "-c", "cat /srv/data/note.txt; test -x /usr/games/sl && echo sl; id -u")
        assert p.stdout.read().split() == ["from-run-commands", "sl", "65534"]
    finally:
        sb.terminate()
