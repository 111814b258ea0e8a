"""A Dockerfile applied over a pulled image with these modules alone, its new layers written by
overlayfs itself (so its whiteouts are the kernel's), pushed, pulled back and run: the layer
format holds end to end, and the parsed steps carry all a builder needs."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gworker.images import dockerfile, oci
from gworker.images.dockercontext import Ignore, plan_copy

Registry = Any  # tests/images/oci/conftest.py's Registry(address, storage)


def _run_in(lowers: list[Path], upper: Path, work: Path, workdir: str, env: dict[str, str],
            argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``argv`` chrooted in the overlay of ``lowers`` (bottom first) with ``upper`` writable."""
    merged = work.parent / f"{work.name}-merged"
    merged.mkdir()
    work.mkdir()
    lower = ":".join(str(p) for p in reversed(lowers))
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    # chroot starts in the new root's "/": the command changes into the workdir itself.
    in_workdir = ("/bin/sh", "-c", f'cd {workdir} && exec "$@"', "sh", *argv)
    env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    script = (
        f"mount -t overlay overlay -o {options} {merged} && mkdir -p {merged}{workdir}"
        f" && exec env -i {env_args} {shutil.which('chroot')} {merged} {shlex.join(in_workdir)}"
    )
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)


def test_dockerfile_over_a_pulled_image(
    registry: Registry, busybox_layers: list[Path], tmp_path: Path
) -> None:
    base_ref = f"{registry.address}/tests/dockerfile-base:v1"
    oci.push(busybox_layers, oci.OciConfig(env=("PATH=/bin",)), base_ref)
    context = tmp_path / "context"
    (context / "site").mkdir(parents=True)
    (context / "site" / "index.html").write_text("<h1>hi</h1>\n")
    (context / "site" / "draft.html").write_text("not yet\n")
    (context / ".dockerignore").write_text("**/draft.html\n")
    text = f"""\
ARG BASE={base_ref}
FROM $BASE
ARG GREETING=hi
ENV WHO=world PATH=/usr/local/bin:$PATH
WORKDIR /app
COPY site/ ./static/
RUN echo "$GREETING $WHO" > greeting.txt && busybox rm /etc/conf.d/new.conf
CMD ["cat", "/app/greeting.txt"]
"""
    layers_dir = tmp_path / "layers"
    pulled: dict[str, oci.OciImage] = {}

    def config_of(ref: str) -> oci.OciConfig:
        pulled[ref] = oci.pull(ref, layers_dir)
        return pulled[ref].config

    parsed = dockerfile.parse(text, build_args={"GREETING": "hello"}, base_config=config_of)
    (stage,) = parsed.stages
    base = pulled[stage.base.image]
    lowers = [path for _, path in base.layers]
    env = dict(kv.split("=", 1) for kv in base.config.env)
    workdir, cmd = base.config.workdir or "/", base.config.cmd
    for n, step in enumerate(stage.steps):
        if isinstance(step, dockerfile.EnvStep):
            env.update(step.env)
        elif isinstance(step, dockerfile.WorkdirStep):
            workdir = step.path
        elif isinstance(step, dockerfile.CmdStep):
            cmd = step.argv
        elif isinstance(step, dockerfile.CopyStep):
            upper = tmp_path / f"step{n}"
            for entry in plan_copy(context, step.sources, step.dest, Ignore.from_dir(context)):
                target = upper / entry.dest.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                if entry.source.is_dir():
                    target.mkdir(exist_ok=True)
                else:
                    shutil.copy2(entry.source, target, follow_symlinks=False)
            lowers.append(upper)
        elif isinstance(step, dockerfile.RunStep):
            upper = tmp_path / f"step{n}"
            upper.mkdir()
            run_env = {**dict(step.build_env), **env}
            out = _run_in(lowers, upper, tmp_path / f"work{n}", workdir, run_env, step.argv)
            if out.returncode != 0 and "mount" in out.stderr:
                pytest.fail(f"overlayfs cannot be mounted here: {out.stderr.strip()}")
            assert out.returncode == 0, out.stderr
            lowers.append(upper)
        else:
            raise AssertionError(f"unexpected step {step}")
    config = oci.OciConfig(env=tuple(f"{k}={v}" for k, v in env.items()), workdir=workdir,
                           cmd=cmd, architecture=oci.host_architecture())  # fmt: skip
    ref = f"{registry.address}/tests/from-dockerfile:v1"
    oci.push(lowers, config, ref)

    image = oci.pull(ref, tmp_path / "pulled")
    assert image.config == config
    assert image.config.env == ("PATH=/usr/local/bin:/bin", "WHO=world")
    final = [path for _, path in image.layers]
    (tmp_path / "u").mkdir()
    out = _run_in(final, tmp_path / "u", tmp_path / "w", image.config.workdir, {"PATH": "/bin"},
                  ("/bin/sh", "-c", "cat greeting.txt; ls static; ls -a /etc/conf.d"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    # RUN saw the build arg and the ENV; COPY honoured .dockerignore; the deletion of new.conf
    # (a whiteout overlayfs made) survived the push and the pull.
    assert out.stdout.split() == ["hello", "world", "index.html", ".", ".."]
