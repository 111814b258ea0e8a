"""Registry and Dockerfile images through the real server: an image this test builds and pushes
to a loopback registry, pulled by ``Image.from_registry``, extended with ``pip_install`` and
``dockerfile_commands`` and run; a Dockerfile built over it; the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from gworker.images import ImageBuilder, oci
from gworker_client._image import Image

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def pushed(registry, needs_root, tmp_path_factory) -> str:
    """A Debian image with Python, built here and pushed as an OCI image (nothing leaves the
    machine)."""
    builder = ImageBuilder(tmp_path_factory.mktemp("push-home"), lambda sha: b"")
    built = builder.build(Image.debian_slim().run_commands("rm -rf /usr/share/doc").to_spec())
    ref = f"{registry.address}/gworker/debian-python:1"
    config = oci.OciConfig(env=(PATH, "FROM_REGISTRY=yes"), workdir="/srv")
    oci.push([built.layers_dir / d for d in built.layers], config, ref)
    return ref


def _run(server, tmp_path: Path, image_line: str, body: str) -> str:
    app_file = tmp_path / "oci_app.py"
    app_file.write_text(
        "import os\n"
        "import gworker_client as gw\n"
        f"image = {image_line}\n"
        "app = gw.App('oci-app', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        f"    return {body}\n"
        "@app.local_entrypoint()\n"
        "def main():\n"
        "    print('RESULT', f.remote())\n"
    )
    r = server.gw("run", str(app_file), timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("RESULT", 1)[1].strip()


def test_from_registry_extended_and_run(server, pushed, tmp_path):
    image = (
        f"gw.Image.from_registry({pushed!r}).pip_install('six')"
        ".dockerfile_commands('ENV STEP=docker', 'RUN echo layered > /srv/made.txt')"
    )
    body = (
        "(__import__('six').__name__, os.environ['FROM_REGISTRY'], os.environ['STEP'],"
        " open('/srv/made.txt').read().strip(), os.getcwd(), os.path.exists('/usr/share/doc'))"
    )
    assert _run(server, tmp_path, image, body) == (
        "('six', 'yes', 'docker', 'layered', '/srv', False)"
    )


def test_from_dockerfile_with_a_context(server, pushed, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("copied\n")
    (ctx / "secret.txt").write_text("never uploaded\n")
    (ctx / ".dockerignore").write_text("secret.txt\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {pushed}\nARG WHO=docker\nENV GREETING=hello-$WHO\nWORKDIR /app\n"
        'COPY app.txt ./\nRUN echo built >> /app/app.txt\nCMD ["python"]\n'
    )
    image = f"gw.Image.from_dockerfile({str(ctx / 'Dockerfile')!r}, build_args={{'WHO': 'ada'}})"
    body = "(os.environ['GREETING'], open('app.txt').read().split(),"
    body += " os.path.exists('/app/secret.txt'))"
    assert _run(server, tmp_path, image, body) == "('hello-ada', ['copied', 'built'], False)"


def test_bad_registry_and_dockerfile_input_is_named(server, pushed, registry, tmp_path):
    missing = pushed.replace(":1", ":no-such-tag")
    app_file = tmp_path / "bad.py"
    for image, said in (
        (f"gw.Image.from_registry({missing!r})", "no-such-tag"),
        (
            f"gw.Image.from_registry({pushed!r}).dockerfile_commands('HEALTHCHECK CMD true')",
            "HEALTHCHECK",
        ),  # fmt: skip
        (
            f"gw.Image.from_registry({pushed!r}).dockerfile_commands('USER nobody', 'RUN true')",
            "RUN after USER nobody would run as root",
        ),  # fmt: skip
    ):
        app_file.write_text(
            "import gworker_client as gw\n"
            f"app = gw.App('bad-oci', image={image})\n"
            "@app.function()\n"
            "def f():\n"
            "    return 1\n"
        )
        r = server.gw("run", str(app_file), timeout=300)
        assert r.returncode != 0 and said in " ".join(r.stderr.split()), r.stderr
