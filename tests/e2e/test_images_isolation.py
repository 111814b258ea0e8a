"""Images, the private filesystem view and resource limits, through real containers."""

from __future__ import annotations

import uuid
from pathlib import Path

import images_app
import pytest
from images_app import app

import gworker_client as gw


@pytest.fixture(scope="module")
def running(server):
    with app.run():
        yield


def test_image_packages_are_visible_only_in_their_image(running):
    assert images_app.six_version.remote() == "1.16.0"
    assert images_app.can_import.remote("json")
    # the default image holds the runtime and nothing else: not even the host's packages
    assert not images_app.can_import.remote("six")
    assert not images_app.can_import.remote("pytest")


def test_host_home_and_project_are_hidden(running):
    secret = Path.home() / f".gw-isolation-{uuid.uuid4().hex}"
    secret.write_text("host only")
    try:
        assert not images_app.exists.remote(str(secret))
        assert not images_app.exists.remote(str(Path(__file__).resolve()))
        assert images_app.exists.remote("/usr/bin/env")  # system directories are there
    finally:
        secret.unlink()


def test_tmp_is_private(running):
    name = f"gw-private-{uuid.uuid4().hex}"
    images_app.write_tmp.remote(name)
    assert not Path("/tmp", name).exists()


def test_image_files_env_and_workdir_appear_at_their_paths(running):
    assert images_app.image_view.remote() == ("/opt/app", "from the image", True)


def test_memory_limit_kills_with_an_out_of_memory_error(running):
    with pytest.raises(gw.exception.ExecutionError, match=r"out of memory \(limit 128 MiB\)"):
        images_app.hog.remote(400)
    assert images_app.hog.remote(8) == 8  # a new container serves the next input


def test_volume_mounted_at_its_path(running):
    text = f"results {uuid.uuid4()}"
    images_app.write_output.remote(text)
    assert b"".join(images_app.volume.read_file("output.txt")).decode() == text


def test_a_failing_build_shows_the_failing_step(server, tmp_path):
    app_file = tmp_path / "broken_image.py"
    app_file.write_text(
        "import gworker_client as gw\n"
        "image = gw.Image.debian_slim().run_commands('echo boom >&2; exit 3')\n"
        "app = gw.App('broken', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        "    return 1\n"
    )

    r = server.gw("run", str(app_file))
    assert r.returncode != 0
    assert "failed to build" in r.stderr and "boom" in r.stderr and "exit 3" in r.stderr


def test_build_log_streams_once_then_the_image_is_cached(server, tmp_path):

    app_file = tmp_path / "cached_image.py"
    app_file.write_text(
        "import gworker_client as gw\n"
        f"image = gw.Image.debian_slim().env({{'RUN': '{uuid.uuid4().hex}'}})\n"
        "app = gw.App('cached', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        "    return 'ok'\n"
    )

    first, second = server.gw("run", str(app_file)), server.gw("run", str(app_file))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "Building image" in first.stderr and "ready in" in first.stderr
    assert "Building image" not in second.stderr
    assert second.stdout.strip() == "ok"
