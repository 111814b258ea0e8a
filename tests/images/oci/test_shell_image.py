"""``gw shell --image``: a shell in a container of a registry image (pushed here to a loopback
registry), with ``--cmd``, ``--volume``, ``--add-python`` and the refusals."""

from __future__ import annotations

import io
import platform

import pytest

import gworker_client as gw
from gworker.images import ImageBuilder, oci
from gworker_client._image import Image

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def builder(tmp_path_factory) -> ImageBuilder:
    return ImageBuilder(tmp_path_factory.mktemp("shell-push"), lambda sha: b"")


def _push(builder: ImageBuilder, image: Image, ref: str, *env: str) -> str:
    built = builder.build(image.to_spec())
    config = oci.OciConfig(env=(PATH, *env), workdir="/srv")
    oci.push([built.layers_dir / d for d in built.layers], config, ref)
    return ref


@pytest.fixture(scope="module")
def shell_image(registry, needs_root, builder) -> str:
    """A Debian image with Python and a mark of its own, pushed as an OCI image."""
    image = Image.debian_slim().run_commands("echo from-the-registry > /etc/registry-mark")
    return _push(builder, image, f"{registry.address}/gworker/shell:1", "FROM_REGISTRY=yes")


@pytest.fixture(scope="module")
def no_python_image(registry, needs_root, builder) -> str:
    """A Debian image whose Python was removed."""
    image = Image.debian_slim().run_commands("rm -f /usr/bin/python3*")
    return _push(builder, image, f"{registry.address}/gworker/no-python:1")


def test_cmd_in_a_registry_image_with_a_volume(server, shell_image):
    vol = gw.Volume.from_name("shell-image-vol", create_if_missing=True)
    with vol.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"from the volume\n"), "/v.txt")
    r = server.gw(
        "shell",
        "--image",
        shell_image,
        "--volume",
        "shell-image-vol",
        "--memory",
        "512",
        "--cmd",
        "cat /etc/registry-mark /mnt/shell-image-vol/v.txt; echo $FROM_REGISTRY; pwd; exit 3",
        timeout=300,
    )
    assert r.returncode == 3, r.stderr
    assert r.stdout == "from-the-registry\nfrom the volume\nyes\n/srv\n"


def test_add_python_to_an_image_without_one(server, no_python_image):
    r = server.gw("shell", "--image", no_python_image, "--cmd", "true", timeout=300)
    assert r.returncode != 0 and "--add-python" in r.stderr, r.stderr
    version = ".".join(platform.python_version_tuple()[:2])
    r = server.gw(
        "shell",
        "--image",
        no_python_image,
        "--add-python",
        version,
        "-c",
        "python3 -c 'import sys; print(sys.version_info[:2])'; ls /usr/bin/python3* || true",
        timeout=300,
    )
    wanted = str(tuple(int(x) for x in version.split(".")))
    assert (r.returncode, r.stdout) == (0, wanted + "\n"), r.stderr


def test_bad_image_values_are_named(server, registry):
    missing = f"{registry.address}/gworker/shell:no-such-tag"
    r = server.gw("shell", "--image", missing, "--cmd", "true", timeout=300)
    assert r.returncode != 0 and "no-such-tag" in r.stderr
    r = server.gw("shell", "--image", "two words", "--cmd", "true")
    assert r.returncode != 0 and "--image two words" in r.stderr
    r = server.gw("shell", "--image", missing, "--add-python", "three", "--cmd", "true")
    assert r.returncode != 0 and "--add-python three" in r.stderr


def test_gpu_with_a_registry_image(gpu_server, shell_image):
    r = gpu_server.gw(
        "shell",
        "--image",
        shell_image,
        "--gpu",
        "H100",
        "--cmd",
        "echo $GW_GPU $GW_GPU_COUNT; cat /etc/registry-mark",
        timeout=300,
    )
    assert (r.returncode, r.stdout) == (0, "H100 1\nfrom-the-registry\n"), r.stderr
