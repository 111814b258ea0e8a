"""The Image API: immutable values, plain-data specs, stable digests, errors at definition."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import msgpack
import pytest

from gworker_client._image import Image, layer_digests
from gworker_client.exception import InvalidError

BASE = Image.debian_slim(python_version="3.11")


def test_builders_return_new_images_and_leave_the_original_alone():
    with_six = BASE.pip_install("six")
    assert with_six is not BASE
    assert len(BASE.to_spec()["layers"]) == 1
    assert [layer["op"] for layer in with_six.to_spec()["layers"]] == ["base", "pip_install"]


def test_spec_is_plain_data_that_msgpack_carries(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    image = (
        BASE.apt_install("curl")
        .pip_install("six", ["toolz==0.12.1"], index_url="https://example.org/simple")
        .env({"A": "1"})
        .workdir("/app")
        .add_local_file(tmp_path / "f.txt", "/app/f.txt", copy=True)
        .run_commands("echo hi")
    )
    spec = image.to_spec()
    assert msgpack.unpackb(msgpack.packb(spec)) == spec
    assert spec["layers"][2]["packages"] == ["six", "toolz==0.12.1"]
    assert spec["layers"][5]["copy"] is True


def test_build_steps_after_files_placed_at_start_are_refused(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    placed = BASE.add_local_file(tmp_path / "f.txt", "/app/f.txt")
    with pytest.raises(InvalidError, match=r"pip_install\(\) comes after add_local_file"):
        placed.pip_install("six")
    assert placed.env({"A": "1"}).workdir("/app")  # settings build nothing: fine
    with pytest.raises(InvalidError, match=r"copy='yes'.*True or False"):
        BASE.add_local_file(tmp_path / "f.txt", "/app/f.txt", copy="yes")  # type: ignore


def test_digest_is_stable_and_each_prefix_keeps_its_digest():
    a = BASE.pip_install("six")
    b = a.env({"X": "1"})
    assert a.digest == BASE.pip_install("six").digest
    assert layer_digests(b.to_spec()["layers"])[:2] == layer_digests(a.to_spec()["layers"])
    assert a.digest != BASE.pip_install("six==1.16.0").digest


def test_force_build_does_not_change_identity():
    assert BASE.pip_install("six", force_build=True).digest == BASE.pip_install("six").digest
    assert BASE.pip_install("six", force_build=True).to_spec()["layers"][1]["force_build"]


def test_python_version_defaults_to_this_interpreter_and_is_part_of_the_digest():
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert Image.debian_slim().python_version == here
    assert Image.debian_slim("3.12").digest != Image.debian_slim("3.11").digest


@pytest.mark.parametrize("bad", ["3", "2.7", "3.9", "three", 3.11, "3.11.x"])
def test_bad_python_versions_are_refused(bad):
    with pytest.raises(InvalidError, match="python_version"):
        Image.debian_slim(python_version=bad)


def test_add_local_file_that_does_not_exist_names_the_path(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(InvalidError, match=r"add_local_file\(.*nope\.json.*no such local file"):
        BASE.add_local_file(missing, "/app/nope.json")


def test_add_local_dir_that_does_not_exist_names_the_path(tmp_path):
    with pytest.raises(InvalidError, match=r"add_local_dir\(.*missing.*no such local directory"):
        BASE.add_local_dir(tmp_path / "missing", "/app")


@pytest.mark.parametrize("remote", ["relative/path", "/", "/app/../etc", "/proc/x", "/dev/y"])
def test_remote_paths_must_be_absolute_and_outside_kernel_filesystems(tmp_path, remote):
    with pytest.raises(InvalidError, match=repr(remote).replace("(", r"\(")):
        BASE.add_local_dir(tmp_path, remote)


def test_trailing_slash_places_a_file_inside_the_directory(tmp_path):
    (tmp_path / "conf.json").write_text("{}")
    spec = BASE.add_local_file(tmp_path / "conf.json", "/app/").to_spec()
    assert spec["layers"][1]["files"][0]["path"] == "/app/conf.json"


def test_uploads_lists_local_files_by_sha256_and_edits_change_the_digest(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(b"one")
    image = BASE.add_local_file(f, "/data/data.bin")
    first = image.digest
    assert image.uploads() == {hashlib.sha256(b"one").hexdigest(): f.resolve()}
    f.write_bytes(b"two, longer")
    assert image.digest != first
    assert hashlib.sha256(b"two, longer").hexdigest() in image.uploads()


def test_add_local_dir_walks_files_and_honours_ignore(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "a.py").write_text("a")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "b.py").write_text("b")
    (tmp_path / "c.log").write_text("c")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    layer = BASE.add_local_dir(tmp_path, "/app", ignore=["skip", "*.log"]).to_spec()["layers"][1]
    files = {f["path"]: f["mode"] for f in layer["files"]}
    assert files == {"/app/keep/a.py": 0o644, "/app/run.sh": 0o755}
    assert layer["roots"] == ["/app"]


def test_add_local_python_source_places_modules_under_root():
    layer = BASE.add_local_python_source("basic_app").to_spec()["layers"][1]
    assert [f["path"] for f in layer["files"]] == ["/root/basic_app.py"]
    assert layer["python_path"] == "/root"
    with pytest.raises(InvalidError, match="no Python source for a module 'not_a_module_here'"):
        BASE.add_local_python_source("not_a_module_here")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: BASE.pip_install(3), "expected strings or lists of strings"),
        (lambda: BASE.pip_install(["six", ""]), "expected a non-empty string"),
        (lambda: BASE.pip_install("-U six"), "extra_options"),
        (lambda: BASE.pip_install("six", indx_url="x"), "unknown keyword argument 'indx_url'"),
        (lambda: BASE.pip_install("six", force_build="yes"), "force_build"),
        (lambda: BASE.apt_install("rm -rf /"), "not a Debian package name"),
        (lambda: BASE.env({"1BAD": "x"}), "not a valid environment variable name"),
        (lambda: BASE.env({"GOOD": 1}), "must be a str"),
        (lambda: BASE.workdir("app"), "absolute path"),
        (lambda: BASE.run_commands(""), "non-empty string"),
        (lambda: BASE.run_function("not callable"), "expected a function"),
        (lambda: BASE.run_commands("x", secrets=["s"]), "gw.Secret"),
        (
            lambda: Image(
                (),
            ),
            "Image.debian_slim",
        ),
    ],
)
def test_bad_arguments_fail_at_definition_with_the_value(call, match):
    with pytest.raises(InvalidError, match=match):
        call()


def test_empty_package_lists_add_no_layer():
    assert BASE.pip_install() is BASE
    assert BASE.apt_install() is BASE
    assert BASE.run_commands() is BASE


@pytest.mark.parametrize("factory", ["from_registry", "from_dockerfile", "from_aws_ecr"])
def test_oci_images_are_refused_naming_what_works(factory):
    with pytest.raises(InvalidError, match=f"{factory}.*not supported.*Image.debian_slim"):
        getattr(Image, factory)("nvidia/cuda:12.1.0-base-ubuntu22.04")
    with pytest.raises(InvalidError, match="micromamba.*not supported.*pip_install"):
        Image.micromamba()


def test_requirements_files_are_inlined_and_editables_refused(tmp_path):
    (tmp_path / "base.txt").write_text("six==1.17.0\n")
    (tmp_path / "req.txt").write_text("-r base.txt\ntoolz\n")
    layer = BASE.pip_install_from_requirements(tmp_path / "req.txt").to_spec()["layers"][1]
    assert layer["requirements"].split() == ["six==1.17.0", "toolz"]
    (tmp_path / "edit.txt").write_text("-e .\n")
    with pytest.raises(InvalidError, match="editable"):
        BASE.pip_install_from_requirements(tmp_path / "edit.txt")
    with pytest.raises(InvalidError, match="no such requirements file"):
        BASE.pip_install_from_requirements(tmp_path / "missing.txt")


def test_run_function_is_uploaded_and_its_digest_is_stable_across_processes(tmp_path):
    module = tmp_path / "build_steps.py"
    module.write_text(
        textwrap.dedent(
            """
            import os

            NAMES = {"alpha", "beta", "gamma"}

            def download(target="/tmp/x"):
                with open(target, "w") as f:
                    f.write(" ".join(sorted(NAMES)) + os.sep)
            """
        )
    )
    script = (
        "import build_steps\n"
        "from gworker_client._image import Image\n"
        "print(Image.debian_slim('3.11').run_function(build_steps.download).digest)\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(tmp_path)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


def test_secrets_are_referenced_by_name_never_by_value():
    from gworker_client._secret import Secret

    image = BASE.run_commands("true", secrets=[Secret.from_dict({"TOKEN": "s3cret"})])
    layer = image.to_spec()["layers"][1]
    assert layer["secrets"] == [{"inline": ["TOKEN"]}]
    assert "s3cret" not in repr(image.to_spec())


def test_imports_ignores_import_errors_only_outside_containers(monkeypatch):
    monkeypatch.delenv("GW_CONTAINER_ID", raising=False)
    with BASE.imports():
        import not_installed_anywhere  # noqa: F401
    monkeypatch.setenv("GW_CONTAINER_ID", "ct-1")
    with pytest.raises(ImportError), BASE.imports():
        import not_installed_anywhere  # noqa: F401


def test_repr_reads_like_the_code_that_made_it():
    image = BASE.pip_install("six").env({"A": "1"}).workdir("/app")
    assert repr(image) == (
        "Image(debian_slim(python_version='3.11').pip_install('six').env({'A': '1'})"
        ".workdir('/app'))"
    )


def test_spec_file_paths_resolve(tmp_path: Path):
    (tmp_path / "f").write_text("x")
    image = BASE.add_local_file(tmp_path / "f", "/app/f")
    assert list(image.uploads().values()) == [(tmp_path / "f").resolve()]
