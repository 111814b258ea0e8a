"""Real image builds with uv: caching, isolation of packages, layer reuse, clear failures."""

from __future__ import annotations

import os
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
    assert with_six.venv.as_posix() in run_python(with_six, check).stdout
    for image, isolated in ((default, True), (default, False)):
        out = run_python(image, check, isolated=isolated)
        assert out.returncode != 0 and "No module named 'six'" in out.stderr
    # nothing leaks in from the server's own environment
    leaked = run_python(default, "import aiohttp", isolated=False)
    assert "No module named 'aiohttp'" in leaked.stderr


def test_appending_a_layer_reuses_the_layers_before_it(builds):
    base = Image.debian_slim().pip_install("six")
    first, _ = builds.build(base)
    began = time.monotonic()
    second, log = builds.build(base.env({"RUN": uuid.uuid4().hex}).pip_install("toolz"))
    print(f"\n[image build times] one new pip layer on cached layers: {_took(began)}")
    assert "[2/4] pip_install six: cached" in log
    assert not any(line.startswith(" + six") for line in log)  # six was not installed again
    assert any(line.startswith(" + toolz") for line in log)
    assert (first.venv / "lib").exists() and second.venv != first.venv
    assert not list(first.venv.glob("lib/python*/site-packages/toolz"))  # parent untouched


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
    marker = "import sys, pathlib; pathlib.Path(sys.prefix, 'marker.txt').write_text('made')"
    child, log = builds.build(parent.run_commands(f'python -c "{marker}"', "pip install toolz"))
    built_parent, _ = builds.build(parent)
    assert (child.venv / "marker.txt").read_text() == "made"
    assert not (built_parent.venv / "marker.txt").exists()
    assert run_python(child, "import toolz, six").returncode == 0
    assert (child.venv / "marker.txt").stat().st_uid == 0  # handed back to root after the build


def _write_build_marker(text: str) -> None:
    import pathlib
    import sys

    pathlib.Path(sys.prefix, "from_function.txt").write_text(text)


def test_run_function_runs_in_the_image_at_build_time(builds):
    image = Image.debian_slim().run_function(_write_build_marker, args=("weights",))
    built, log = builds.build(image)
    assert (built.venv / "from_function.txt").read_text() == "weights"
    assert any("run_function(_write_build_marker)" in line for line in log)


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


def test_missing_python_version_lists_what_exists(builds):
    have = {".".join(c.version.split(".")[:2]) for c in interpreters.candidates()}
    missing = next(f"3.{minor}" for minor in range(10, 100) if f"3.{minor}" not in have)
    with pytest.raises(InterpreterNotFound) as err:
        builds.build(Image.debian_slim(python_version=missing))
    message = str(err.value)
    assert f"no Python {missing} interpreter" in message
    assert "closed network" in message
    assert "3.11" in message  # the versions that do exist are listed


def test_apt_packages_present_on_the_host_are_fine(builds):
    built, log = builds.build(Image.debian_slim().apt_install("bash", "coreutils"))
    assert "system packages present on the host: bash coreutils" in log


def test_missing_apt_packages_fail_with_the_command_to_run(builds, monkeypatch):
    monkeypatch.delenv("GW_ALLOW_APT", raising=False)
    with pytest.raises(AptPackagesMissing) as err:
        builds.build(Image.debian_slim().apt_install("gworker-no-such-package"))
    assert "apt-get install -y --no-install-recommends gworker-no-such-package" in str(err.value)
    assert "GW_ALLOW_APT=1" in str(err.value)


def test_force_build_rebuilds_into_a_new_snapshot(builds):
    image = Image.debian_slim().env({"F": uuid.uuid4().hex}).run_commands("true")
    first, _ = builds.build(image)
    forced, log = builds.build(image.run_commands("true", force_build=True))
    again, log2 = builds.build(image.run_commands("true", force_build=True))
    assert again.venv != forced.venv and first.venv.exists()
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
