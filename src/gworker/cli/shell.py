"""``gw shell``: an interactive shell (a real pseudo-terminal) in a container with a function's
image, volumes, secrets and GPU, in a registry image (``--image``, as ``modal shell --image``),
or in a running sandbox.

The shell runs in a sandbox (``gw.Sandbox``), so it is isolated like one. On a terminal, the
local terminal goes raw and every key travels to the remote terminal, whose output comes back
as it is written; the window's size follows (SIGWINCH). Without a terminal (piped input), the
shell reads its commands from stdin. ``--cmd`` runs one command instead of a shell. The exit
code is the shell's (or the command's).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import click

import gworker_client as gw
from gworker_client import _api
from gworker_client._container_process import ContainerProcess
from gworker_client.exception import InvalidError

from ._common import friendly_errors, import_app_file
from .environment import ENV_GIVEN

SHELL_APP = "gw-shell"
SHELL_TIMEOUT_S = 24 * 3600
# the first shell the image has, as a login shell would pick it
FIND_SHELL = "for s in bash sh; do command -v $s >/dev/null && exec $s -i; done"


def _function_options(ref: str) -> Any:
    """The options (image, volumes, secrets, gpu) of ``app.py::function``."""
    _, app, name = import_app_file(ref)
    functions = app.registered_functions
    if name is None:
        if len(functions) != 1:
            listed = ", ".join(sorted(functions)) or "none"
            raise click.ClickException(
                f"{ref} has {len(functions)} functions ({listed}): name one, as {ref}::NAME"
            )
        name = next(iter(functions))
    if name not in functions:
        listed = ", ".join(sorted(functions)) or "none"
        raise click.ClickException(f"{ref} has no function {name!r} (it has: {listed})")
    return functions[name]._options


@dataclass(frozen=True)
class Overrides:
    """What the command line sets instead of (or without) a function's options."""

    image: str | None = None  # a registry image's reference
    add_python: str | None = None
    cpu: float | None = None
    memory: int | None = None
    gpu: str | None = None
    volumes: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()


def _registry_image(tag: str, add_python: str | None) -> gw.Image:
    try:
        return gw.Image.from_registry(tag, add_python=add_python)
    except InvalidError as e:  # the values as the command line gave them
        given = f"--image {tag}" + (f" --add-python {add_python}" if add_python else "")
        raise click.ClickException(f"{given}: {e}") from None


def _create(ref: str | None, over: Overrides) -> gw.Sandbox:
    kwargs: dict[str, Any] = {}
    mounts: dict[str, gw.Volume] = {}
    found: list[gw.Secret] = []
    if ref is not None:
        options = _function_options(ref)
        kwargs["image"] = options.image
        if options.gpu:
            kwargs["gpu"] = [f"{r.type}:{r.count}" for r in options.gpu]
        mounts.update(dict(options.volumes))
        found += list(options.secrets)
    if over.image is not None:
        kwargs["image"] = _registry_image(over.image, over.add_python)
    if over.gpu is not None:
        kwargs["gpu"] = over.gpu
    if over.cpu is not None:
        kwargs["cpu"] = over.cpu
    if over.memory is not None:
        kwargs["memory"] = over.memory
    for name in over.volumes:  # Modal's place for them
        mounts[f"/mnt/{name}"] = gw.Volume.from_name(name)
    found += [gw.Secret.from_name(name) for name in over.secrets]
    app = gw.App.lookup(SHELL_APP, create_if_missing=True)
    try:
        return gw.Sandbox.create(
            app=app, timeout=SHELL_TIMEOUT_S, volumes=mounts, secrets=found, **kwargs
        )
    except InvalidError as e:
        if over.image is None or "add_python=" not in str(e):
            raise
        # an image without Python: the fix, as this command spells it
        raise click.ClickException(
            f"--image {over.image}: {e}\n(gw shell: pass --add-python 3.11, or another version"
            " this machine has)"
        ) from None


def running_handle(ref: str) -> gw.Sandbox:
    """A handle taking commands: a sandbox (sb-...), or a function container (ct-...), whose
    agent the control plane starts on demand."""
    if ref.startswith("sb-"):
        return gw.Sandbox.from_id(ref)
    info = _api.client().post(f"/v1/running/{quote(ref, safe='')}/attach")
    return gw.Sandbox(info["sandbox_id"], info)


@contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSADRAIN)  # keeps what was typed ahead (TCSAFLUSH drops it)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _copy_out(reader: Any, fd: int) -> None:
    for chunk in reader._chunks():
        os.write(fd, chunk)


def _copy_in(p: ContainerProcess, fd: int) -> None:
    while data := os.read(fd, 65536):
        p.stdin.write(data)
        p.stdin.drain()
    p.stdin.write_eof()
    p.stdin.drain()


def relay(p: ContainerProcess, on_terminal: bool) -> int:
    """Connect this process's stdio to ``p`` until it exits; return its exit code."""
    pumps = [threading.Thread(target=_copy_out, args=(p.stdout, 1), daemon=True)]
    if not on_terminal:
        pumps.append(threading.Thread(target=_copy_out, args=(p.stderr, 2), daemon=True))
    for t in pumps:
        t.start()
    threading.Thread(target=_copy_in, args=(p, sys.stdin.fileno()), daemon=True).start()
    if on_terminal:
        # the window's size follows the local one
        def resized(*_: Any) -> None:
            size = shutil.get_terminal_size()
            threading.Thread(target=p.resize, args=(size.lines, size.columns)).start()

        signal.signal(signal.SIGWINCH, resized)
    code = p.wait()
    for t in pumps:
        t.join()
    return code


@click.command("shell")
@click.argument("ref", required=False)
@click.option("-c", "--cmd", default=None, help="Run this command (with sh -c) instead of a shell.")
@click.option(
    "--image",
    default=None,
    help="A registry image to run the shell in (e.g. python:3.12-slim), instead of a function's.",
)
@click.option(
    "--add-python",
    default=None,
    help="With --image: a Python (e.g. 3.11) placed in the image, for one that has none.",
)
@click.option("--cpu", type=float, default=None, help="CPU cores for the shell.")
@click.option("--memory", type=int, default=None, help="Memory for the shell, in MiB.")
@click.option("--gpu", default=None, help="A GPU to attach instead (e.g. A100, H100:2).")
@click.option("--volume", "volumes", multiple=True, help="A volume to mount at /mnt/NAME.")
@click.option("--secret", "secrets", multiple=True, help="A secret for the environment.")
@friendly_errors
def shell(
    ref: str | None,
    cmd: str | None,
    image: str | None,
    add_python: str | None,
    cpu: float | None,
    memory: int | None,
    gpu: str | None,
    volumes: tuple[str, ...],
    secrets: tuple[str, ...],
) -> None:
    """Open a shell in a container like the one FILE.py[::FUNCTION] runs in (its image,
    volumes, secrets and GPU), in a registry image (--image), or in a running sandbox or
    container (its id: sb-..., ct-...)."""
    if add_python is not None and image is None:
        raise click.ClickException(
            f"--add-python {add_python} places a Python in a registry image: pass --image too"
        )
    over = Overrides(image, add_python, cpu, memory, gpu, volumes, secrets)
    attach = ref is not None and ref.startswith(("sb-", "ct-"))
    if attach and (gpu or volumes or secrets or image or cpu is not None or memory is not None):
        raise click.ClickException(
            "--image, --cpu, --memory, --gpu, --volume and --secret start a new container:"
            f" {ref} is running already"
        )
    if attach and click.get_current_context().meta.get(ENV_GIVEN):
        raise click.ClickException(
            f"--env does not apply to {ref}: an id names one sandbox or container, in whatever"
            " environment it is"
        )
    sb = running_handle(str(ref)) if attach else _create(ref, over)
    on_terminal = os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    argv = ["sh", "-c", cmd] if cmd is not None else ["sh", "-c", FIND_SHELL]
    if not on_terminal and cmd is None:
        argv = ["sh"]  # commands come from the pipe: no prompt
    try:
        p = sb.exec(*argv, pty=on_terminal)
        if on_terminal:
            with _raw_terminal(sys.stdin.fileno()):
                code = relay(p, on_terminal)
        else:
            code = relay(p, on_terminal)
    finally:
        if not attach:
            sb.terminate()
    sys.exit(code)
