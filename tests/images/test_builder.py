"""Real image builds: a Debian root filesystem in layers, steps run as root inside it, caching,
layer reuse, clear failures."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid

import pytest

from gworker.images import (
    AptPackagesMissing,
    BuildError,
    ImageBuilder,
    InterpreterNotFound,
    interpreters,
)
from gworker_client._image import Image


def _took(began: float) -> str:
    return f"{time.monotonic() - began:.2f}s"


def test_default_image_is_built_once_then_reused(tmp_path, uv_cache, run_python):
    builder = ImageBuilder(tmp_path / "images", lambda sha: b"", uv_cache=uv_cache)
    spec = Image.debian_slim().to_spec()
    began = time.monotonic()
    first = builder.build(spec)
    cold = _took(began)
    began = time.monotonic()
    log: list[str] = []
    again = builder.build(spec, log=log.append)
    cached = f"{(time.monotonic() - began) * 1000:.0f}ms"
    print(f"\n[image build times] default image: cold {cold}, cached {cached}")
    assert again == first
    assert log == []  # nothing to build, nothing to say
    assert builder.cached(spec) == first
    out = run_python(first, "import gworker_client, cloudpickle, msgpack; print('runtime ok')")
    assert out.stdout.strip() == "runtime ok", out.stderr


def test_image_holds_exactly_its_packages(builds, run_python):
    default, _ = builds.build(Image.debian_slim())
    with_six, log = builds.build(Image.debian_slim().pip_install("six"))
    assert any("six" in line for line in log)
    check = "import six; print(six.__file__)"
    assert "/usr/local/lib/python3.11/dist-packages" in run_python(with_six, check).stdout
    out = run_python(default, check)
    assert out.returncode != 0 and "No module named 'six'" in out.stderr
    # nothing leaks in from the server's own environment
    assert "No module named 'aiohttp'" in run_python(default, "import aiohttp").stderr


def test_appending_a_layer_reuses_the_layers_before_it(builds, run_python):
    base = Image.debian_slim().pip_install("six")
    first, _ = builds.build(base)
    began = time.monotonic()
    second, log = builds.build(base.env({"RUN": uuid.uuid4().hex}).pip_install("toolz"))
    print(f"\n[image build times] one new pip layer on cached layers: {_took(began)}")
    assert "[2/4] pip_install six: cached" in log
    assert not any(line.startswith(" + six") for line in log)  # six was not installed again
    assert any(line.startswith(" + toolz") for line in log)
    assert second.layers[: len(first.layers)] == first.layers  # the same layers, shared
    assert run_python(first, "import toolz").returncode != 0  # parent untouched


def test_cold_and_warm_uv_cache_build_times(tmp_path, uv_cache):
    image = Image.debian_slim().pip_install("six")
    timings = []
    for name, cache in (("empty uv cache", tmp_path / "fresh-uv"), ("warm uv cache", uv_cache)):
        builder = ImageBuilder(tmp_path / name, lambda sha: b"", uv_cache=cache)
        began = time.monotonic()
        builder.build(image.to_spec())
        timings.append(f"{name} {_took(began)}")
        began = time.monotonic()
        builder.build(image.to_spec())
        timings.append(f"cached {(time.monotonic() - began) * 1000:.0f}ms")
    print(f"\n[image build times] default + pip_install('six'): {', '.join(timings)}")


def test_failing_command_shows_the_command_and_its_output(builds):
    image = Image.debian_slim().run_commands("echo building-step; echo broken >&2; exit 3")
    with pytest.raises(BuildError) as err:
        builds.build(image)
    message = str(err.value)
    assert "step 2/2 (run_commands" in message
    assert "`echo building-step; echo broken >&2; exit 3` failed with exit code 3" in message
    assert "building-step" in message and "broken" in message


def test_unknown_package_version_shows_the_resolvers_error(builds):
    with pytest.raises(BuildError) as err:
        builds.build(Image.debian_slim().pip_install("six==0.0.999"))
    assert "uv pip install" in str(err.value)
    assert "six==0.0.999" in str(err.value) and "no version" in str(err.value).lower()


def test_commands_change_the_image_and_not_its_parent(builds, run_python):
    parent = Image.debian_slim().pip_install("six")
    child, log = builds.build(
        parent.run_commands("echo made > /marker.txt", "pip install toolz", "chown nobody /srv")
    )
    built_parent, _ = builds.build(parent)
    assert run_python(child, "print(open('/marker.txt').read())").stdout.strip() == "made"
    assert run_python(built_parent, "import os; print(os.path.exists('/marker.txt'))").stdout == (
        "False\n"
    )
    assert run_python(child, "import toolz, six").returncode == 0
    # steps run as root with root's powers (chown), and the layer is what they wrote
    layer = child.layers_dir / child.layers[-1]
    assert (layer / "marker.txt").exists() and (layer / "srv").stat().st_uid == 65534
    assert not (layer / "opt" / "gworker").exists()  # the build's tools are not in the image


def _write_build_marker(text: str) -> None:
    import pathlib

    pathlib.Path("/models").mkdir()
    pathlib.Path("/models/weights.txt").write_text(text)
    cache = pathlib.Path.home() / ".cache" / "hub"
    cache.mkdir(parents=True)
    (cache / "model.bin").write_text(text + " cached")


def test_run_function_writes_anywhere_in_the_image(builds, run_python):
    image = Image.debian_slim().run_function(_write_build_marker, args=("weights",))
    built, log = builds.build(image)
    assert any("run_function(_write_build_marker)" in line for line in log)
    code = "import os; print(open('/models/weights.txt').read(), open(os.path.expanduser("
    code += "'~/.cache/hub/model.bin')).read())"
    assert run_python(built, code).stdout.strip() == "weights weights cached"


def _raise_at_build() -> None:
    raise RuntimeError("the weights server said no")


def test_a_raising_run_function_shows_its_traceback(builds):
    with pytest.raises(BuildError) as err:
        builds.build(Image.debian_slim().run_function(_raise_at_build))
    message = str(err.value)
    assert "run_function(_raise_at_build)" in message and "Traceback" in message
    assert "RuntimeError: the weights server said no" in message


def test_a_failed_step_leaves_nothing_a_later_build_reuses(builds):
    marker = uuid.uuid4().hex
    image = Image.debian_slim().run_commands(f"echo {marker} > /half-made; exit 1")
    before = set(builds.builder.store.layers())
    with pytest.raises(BuildError):
        builds.build(image)
    assert set(builds.builder.store.layers()) == before
    assert not [p for p in (builds.builder.root / "tmp").iterdir() if p.is_dir()]


def test_copied_files_are_built_in_and_others_placed_at_start(builds, tmp_path, run_python):
    (tmp_path / "data.txt").write_text("one")
    copied = Image.debian_slim().add_local_file(tmp_path / "data.txt", "/app/data.txt", copy=True)
    built, _ = builds.build(copied.run_commands("cat /app/data.txt > /app/seen-at-build"))
    assert not built.files
    assert run_python(built, "print(open('/app/seen-at-build').read())").stdout.strip() == "one"
    placed = Image.debian_slim().pip_install("six").add_local_file(tmp_path / "data.txt", "/app/")
    first, _ = builds.build(placed)
    (tmp_path / "data.txt").write_text("two")
    second, log = builds.build(placed)
    assert second.layers == first.layers and not any("pip_install six" in x for x in log[1:])
    assert run_python(second, "print(open('/app/data.txt').read())").stdout.strip() == "two"


def test_files_env_and_workdir_are_recorded(builds, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("A")
    (tmp_path / "conf.json").write_text("{}")
    image = (
        Image.debian_slim()
        .add_local_dir(tmp_path / "data", "/app/data")
        .add_local_file(tmp_path / "conf.json", "/app/data/conf.json")
        .env({"MODE": "test"})
        .workdir("/app")
    )
    built, _ = builds.build(image)
    assert set(built.files) == {"/app/data"}  # the file inside the directory needs no bind
    assert (built.files["/app/data"] / "a.txt").read_text() == "A"
    assert (built.files["/app/data"] / "conf.json").read_text() == "{}"
    assert built.env == {"MODE": "test"} and built.workdir == "/app"
    assert built.environ()["MODE"] == "test"


def test_local_python_sources_are_importable_in_containers(builds, run_python):
    built, _ = builds.build(Image.debian_slim().add_local_python_source("basic_app"))
    out = run_python(built, "import basic_app, sys; print(basic_app.__file__)")
    assert out.stdout.strip() == "/root/basic_app.py", out.stderr


def test_python_version_picks_a_matching_interpreter(builds, run_python):
    built, _ = builds.build(Image.debian_slim(python_version="3.12"))
    assert built.python_version.startswith("3.12.")
    out = run_python(built, "import sys, gworker_client; print(sys.version_info[:2])")
    assert out.stdout.strip() == "(3, 12)", out.stderr
    # the commands its packages install (`jupyter`, `streamlit`) are on PATH, as in Modal's
    out = run_python(built, "import shutil, sys; print(shutil.which('python3.12'), sys.prefix)")
    found, prefix = out.stdout.split()
    assert found == f"{prefix}/bin/python3.12", out.stderr


def test_missing_python_version_lists_what_exists(builds):
    have = {".".join(c.version.split(".")[:2]) for c in interpreters.candidates()}
    missing = next(f"3.{minor}" for minor in range(10, 100) if f"3.{minor}" not in have)
    with pytest.raises(InterpreterNotFound) as err:
        builds.build(Image.debian_slim(python_version=missing))
    message = str(err.value)
    assert f"no Python {missing} can be had offline" in message
    assert "3.11.2" in message  # Debian's, and the machine's interpreters, are listed


def test_apt_installs_into_the_image_and_never_onto_the_host(builds, run_python):
    package = "sl"  # small, and not on this host
    assert subprocess.run(["dpkg", "-s", package], capture_output=True).returncode != 0
    built, log = builds.build(Image.debian_slim().apt_install(package))
    assert run_python(built, "import os; print(os.path.exists('/usr/games/sl'))").stdout == (
        "True\n"
    )
    assert subprocess.run(["dpkg", "-s", package], capture_output=True).returncode != 0
    assert not os.path.exists("/usr/games/sl")


def test_a_missing_apt_package_names_it_and_the_fix(builds):
    with pytest.raises(AptPackagesMissing) as err:
        builds.build(Image.debian_slim().apt_install("gworker-no-such-package"))
    message = str(err.value)
    assert "step 2/2 (apt_install gworker-no-such-package)" in message
    assert "apt has no package 'gworker-no-such-package'" in message
    assert "Unable to locate package gworker-no-such-package" in message


def test_force_build_rebuilds_into_a_new_snapshot(builds):
    image = Image.debian_slim().env({"F": uuid.uuid4().hex}).run_commands("true")
    first, _ = builds.build(image)
    forced, log = builds.build(image.run_commands("true", force_build=True))
    again, log2 = builds.build(image.run_commands("true", force_build=True))
    assert again.layers[-1] != forced.layers[-1]  # a new layer, never the one in use
    assert all((first.layers_dir / d).exists() for d in first.layers + forced.layers)
    assert not any("run_commands true: cached" in line for line in log2[-4:])


def test_concurrent_builds_of_one_image_build_it_once(builds):
    image = Image.debian_slim().pip_install("six").run_commands(f"echo {uuid.uuid4().hex}")
    results: list[tuple[object, list[str]]] = []
    threads = [threading.Thread(target=lambda: results.append(builds.build(image))) for _ in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a, log_a), (b, log_b) = results
    assert a == b
    assert sum("built concurrently" in line for line in log_a + log_b) == 1


def test_build_environment_is_not_the_servers(builds):
    os.environ["GW_SERVER_ONLY_SECRET"] = "x"
    try:
        with pytest.raises(BuildError) as err:
            builds.build(
                Image.debian_slim().run_commands('test -z "$GW_SERVER_ONLY_SECRET"; exit 1')
            )
        assert "exit code 1" in str(err.value)
        built, _ = builds.build(
            Image.debian_slim().run_commands('test -z "$GW_SERVER_ONLY_SECRET"')
        )
    finally:
        del os.environ["GW_SERVER_ONLY_SECRET"]


def test_a_full_disk_fails_cleanly_and_leaves_no_half_layer(tmp_path, uv_cache):
    builder = ImageBuilder(tmp_path / "images", lambda sha: b"", uv_cache=uv_cache)
    builder.build(Image.debian_slim().to_spec())
    scratch = builder.root / "tmp"  # where layers are made: an 8 MiB filesystem now
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(scratch)], check=True)
    try:
        layers = set(builder.store.layers())
        fill = Image.debian_slim().run_commands("head -c 64000000 /dev/zero > /big.bin")
        with pytest.raises(BuildError) as err:
            builder.build(fill.to_spec())
        assert "No space left on device" in str(err.value) and "disk is full" in str(err.value)
        assert set(builder.store.layers()) == layers and builder.cached(fill.to_spec()) is None
        assert not list(scratch.iterdir())
    finally:
        subprocess.run(["umount", str(scratch)], check=True)


@pytest.mark.parametrize("command", ["mount -t tmpfs none /mnt", "mknod /disk b 8 0"])
def test_build_steps_cannot_reach_past_the_image(builds, command):
    with pytest.raises(BuildError, match="(?i)operation not permitted|permission denied"):
        builds.build(Image.debian_slim().run_commands(command))
