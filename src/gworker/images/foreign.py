"""Images that start elsewhere: an OCI registry's image as the base (``Image.from_registry``), a
Dockerfile (``Image.from_dockerfile``) and Dockerfile lines over any image
(``Image.dockerfile_commands``).

The registry's layers are pulled into the store as they are (``oci.pull``: the same overlay
layer format), the image's config gives the environment, working directory and user. Each
``RUN`` and ``COPY``/``ADD`` then becomes a layer of its own, run and written as every build step
is (``steps.in_image``); ``ENV``, ``WORKDIR``, ``USER``, ``ARG`` change the config; ``CMD``,
``ENTRYPOINT``, ``LABEL`` and ``EXPOSE`` do not apply to functions and are noted in the log.

The image's Python: with ``add_python`` this machine's interpreter of that version is placed in a
layer (``pythons.py``), otherwise the image's own ``python3`` (or ``python``) on PATH, 3.10 or
later. Either way a small layer adds the gworker runtime's ``.pth`` to its site-packages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from . import dockercontext, dockerfile, interpreters, oci, pythons, steps
from .dockersteps import (
    CmdStep,
    CopyStep,
    DockerfileError,
    EntrypointStep,
    EnvStep,
    ExposeStep,
    LabelStep,
    RunStep,
    Step,
    UserStep,
    WorkdirStep,
)
from .errors import BuildError
from .layers import ImageConfig, ImageRecord, remove_tree

if TYPE_CHECKING:
    from .builder import ImageBuilder

MIN_PYTHON = (3, 10)
_PROBE = (
    "for p in python3 python; do if command -v $p >/dev/null 2>&1; then exec $p -c '"
    "import os, sys, sysconfig, platform\n"
    'd = sysconfig.get_paths()["purelib"]\n'
    "os.makedirs(d, exist_ok=True)\n"
    'open(os.path.join(d, "_gworker_runtime.pth"), "w").write("{runtime}\\n")\n'
    'print("GW-PYTHON", sys.executable, platform.python_version())\'; fi; done;'
    " echo GW-NO-PYTHON; exit 3"
)


def base(builder: ImageBuilder, layer: Mapping[str, Any], key: str, log: steps.Log) -> ImageRecord:
    """The first step of a registry or Dockerfile image: its layers and config, its Python."""
    ctx = builder._context(log)
    credentials = dict(steps.secret_values(ctx, layer)) or None
    pulled: dict[str, oci.OciImage] = {}

    def pull(ref: str) -> oci.OciImage:
        if ref not in pulled:
            log(f"pulling {ref}")
            try:
                pulled[ref] = oci.pull(
                    ref, builder.store, credentials, staging=builder.root / "tmp"
                )
            except oci.RegistryError as e:
                raise BuildError(str(e)) from None
        return pulled[ref]

    if "dockerfile" in layer:
        parsed = dockerfile.parse(
            layer["dockerfile"],
            build_args=layer.get("build_args") or {},
            base_config=lambda ref: pull(ref).config,
        )
        context = _context(builder, layer)
        records: dict[int, ImageRecord] = {}
        for i in parsed.required_stages():
            stage = parsed.stages[i]
            if stage.base.stage is not None:
                record = records[stage.base.stage]
            elif stage.base.image in ("", "scratch"):
                raise DockerfileError(
                    f"line {stage.base.line}: FROM scratch is not supported: start from a"
                    " registry image"
                )
            else:
                record = _from_pulled(key, pull(stage.base.image))
            records[i] = apply(
                builder, ctx, record, stage.steps, _digest(key, f"stage-{i}"), context
            )
        record = records[len(parsed.stages) - 1]
    else:
        record = _from_pulled(key, pull(layer["registry"]))
    return _python(builder, ctx, record, key, layer.get("add_python"))


def commands(
    builder: ImageBuilder, layer: Mapping[str, Any], key: str, prev: ImageRecord, log: steps.Log
) -> ImageRecord:
    """``Image.dockerfile_commands(...)`` over ``prev``."""
    ctx = builder._context(log)
    env = [f"{k}={v}" for k, v in prev.config.env.items()]
    parsed = dockerfile.parse_commands(
        layer["commands"],
        env=env,
        workdir=prev.config.workdir or "/",
        build_args=layer.get("build_args") or {},
    )
    record = dataclasses.replace(prev, key=key)
    return apply(builder, ctx, record, parsed, key, _context(builder, layer))


def apply(
    builder: ImageBuilder,
    ctx: steps.Context,
    record: ImageRecord,
    parsed: Sequence[Step],
    key: str,
    context: Path | None,
) -> ImageRecord:
    user: str | None = None  # a USER of this Dockerfile, in force for the steps after it
    for i, step in enumerate(parsed):
        where = f"line {step.line}"
        if isinstance(step, (RunStep, CopyStep)) and user not in (None, "root", "0", "0:0"):
            raise BuildError(
                f"{where}: {type(step).__name__.removesuffix('Step').upper()} after USER {user}"
                " would run as root here (build steps run as root): move USER below the RUN and"
                " COPY steps, or drop it"
            )
        if isinstance(step, RunStep):
            digest = _digest(key, f"run-{i}")
            image = _built(builder, record)
            shown = f"{where}: RUN {step.argv[-1]}"
            with builder.store.making(digest, shown) as upper:
                steps.in_image(ctx, image, upper, list(step.argv), shown=shown,
                               env=dict(step.build_env))  # fmt: skip
            record = dataclasses.replace(record, layers=(*record.layers, digest))
        elif isinstance(step, CopyStep):
            digest = _digest(key, f"copy-{i}")
            with builder.store.making(digest, f"{where}: COPY") as upper:
                _copy(builder, record, step, context, upper)
            record = dataclasses.replace(record, layers=(*record.layers, digest))
        elif isinstance(step, EnvStep):
            env = {**record.config.env, **dict(step.env)}
            record = dataclasses.replace(record, config=_config(record, env=env))
        elif isinstance(step, WorkdirStep):
            record = dataclasses.replace(record, config=_config(record, workdir=step.path))
        elif isinstance(step, UserStep):
            user = step.user
            ctx.log(f"{where}: USER {step.user} is recorded; functions run as root, as in Modal")
            record = dataclasses.replace(record, config=_config(record, user=step.user))
        elif isinstance(step, (CmdStep, EntrypointStep, LabelStep, ExposeStep)):
            name = type(step).__name__.removesuffix("Step").upper()
            ctx.log(f"{where}: {name} does not apply to functions (they run the gworker runtime)")
    return record


def _from_pulled(key: str, image: oci.OciImage) -> ImageRecord:
    env = dict(kv.partition("=")[::2] for kv in image.config.env)
    config = ImageConfig(
        python="",
        python_version="",
        env=env,
        workdir=image.config.workdir or None,
        user=image.config.user or None,
    )
    return ImageRecord(key, tuple(path.name for _, path in image.layers), config)


def _python(
    builder: ImageBuilder,
    ctx: steps.Context,
    record: ImageRecord,
    key: str,
    add_python: str | None,
) -> ImageRecord:
    if add_python:
        interp = interpreters.find(add_python)
        digest = pythons.host_layer(builder.store, interp, "oci")
        record = dataclasses.replace(record, layers=(*record.layers, digest))
    digest = _digest(key, "python")
    said: list[str] = []

    def log(line: str) -> None:
        said.append(line)
        ctx.log(line)

    probe = dataclasses.replace(ctx, log=log)
    argv = ["/bin/sh", "-c", _PROBE.format(runtime=pythons.RUNTIME_DIR)]
    try:
        with builder.store.making(digest, "the gworker runtime's .pth") as upper:
            steps.in_image(probe, _built(builder, record), upper, argv, shown="find Python")
    except BuildError as e:
        if any("GW-NO-PYTHON" in line for line in said) or "/bin/sh" in str(e):
            raise BuildError(
                "the image has no Python (python3 or python on PATH): pass add_python='3.11'"
                " (or another version this machine has) to place one"
            ) from None
        raise
    found = [line.split() for line in said if line.startswith("GW-PYTHON ")]
    executable, version = found[-1][1], found[-1][2]
    if tuple(int(p) for p in version.split(".")[:2]) < MIN_PYTHON:
        raise BuildError(
            f"the image's Python is {version} ({executable}); the gworker runtime needs 3.10 or"
            " later: pass add_python='3.11' to place one"
        )
    config = _config(record, python=executable, python_version=version)
    return ImageRecord(record.key, (*record.layers, digest), config)


def _copy(
    builder: ImageBuilder,
    record: ImageRecord,
    step: CopyStep,
    context: Path | None,
    upper: Path,
) -> None:
    if step.from_stage is not None:
        raise DockerfileError(f"line {step.line}: COPY --from is not supported yet")
    if context is None:
        raise DockerfileError(
            f"line {step.line}: COPY needs a build context: pass context_dir=... (the directory"
            " its sources are relative to)"
        )
    ignore = dockercontext.Ignore.from_dir(context)
    lowers = [builder.store.path(d) for d in reversed(record.layers)]

    def is_dir(path: str) -> bool:
        rel = PurePosixPath(path).relative_to("/")
        return any((layer / rel).is_dir() for layer in lowers)

    owner = _owner(step.chown, lowers, step.line)
    for entry in dockercontext.plan_copy(context, step.sources, step.dest, ignore, is_dir):
        dest = upper / PurePosixPath(entry.dest).relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if entry.source.is_symlink():
            dest.symlink_to(os.readlink(entry.source))
        elif entry.source.is_dir():
            dest.mkdir(exist_ok=True, mode=0o755)
        else:
            shutil.copy2(entry.source, dest)
        if step.chmod and not dest.is_symlink():
            os.chmod(dest, int(step.chmod, 8))
        if owner is not None:
            os.lchown(dest, *owner)


def _owner(chown: str | None, lowers: Sequence[Path], line: int) -> tuple[int, int] | None:
    if not chown:
        return None
    user, _, group = chown.partition(":")

    def resolve(name: str, table: str) -> int:
        if name.isdigit():
            return int(name)
        for layer in lowers:
            path = layer / "etc" / table
            if path.exists():
                for row in path.read_text().splitlines():
                    fields = row.split(":")
                    if fields[0] == name and len(fields) > 2:
                        return int(fields[2])
                break
        raise DockerfileError(f"line {line}: COPY --chown={chown}: no {name!r} in /etc/{table}")

    uid = resolve(user, "passwd")
    return uid, resolve(group, "group") if group else uid


def _context(builder: ImageBuilder, layer: Mapping[str, Any]) -> Path | None:
    """The build context's files (uploaded by the SDK) as a hard-link tree, or None."""
    files = layer.get("files")
    if layer.get("roots") != ["/context"] or files is None:
        return None
    text = "\n".join(sorted(f"{f['path']} {f['sha256']} {f['mode']:o}" for f in files))
    tree = builder.root / "contexts" / hashlib.sha256(text.encode()).hexdigest()
    if not tree.exists():
        tmp = tree.with_name(f".{tree.name}.{os.getpid()}")
        remove_tree(tmp)
        (tmp / "context").mkdir(parents=True)
        for f in files:
            steps.place(tmp, f["path"], builder.blobs.path(f["sha256"], f["mode"]))
        os.rename(tmp, tree)
    return tree / "context"


def _built(builder: ImageBuilder, record: ImageRecord) -> Any:
    """The image so far as build steps need it (no runtime yet: an empty directory stands in)."""
    empty = builder.root / "runtime-none"
    empty.mkdir(exist_ok=True)
    return builder._image(record, empty, [])


def _config(record: ImageRecord, **changes: Any) -> ImageConfig:
    return dataclasses.replace(record.config, **changes)


def _digest(key: str, what: str) -> str:
    return hashlib.sha256(f"{key}|{what}".encode()).hexdigest()
