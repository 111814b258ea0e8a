"""``gw volume create|list|ls|put|get|rm|delete``: volumes and their files."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from gworker_client import Volume
from gworker_client import exception as exc
from gworker_client._protocol.objects import ObjectKind
from gworker_client._volume import FileEntryType, normalize

from ._common import console, friendly_errors
from .files import FILE_COLUMNS, add_file_commands, size_text
from .objects import object_group

# Transfers at least this large get a progress bar.
PROGRESS_MIN_BYTES = 1024 * 1024


volume_group = object_group(
    ObjectKind.VOLUME,
    "Create volumes, move files in and out of them, and delete them (gw.Volume).",
    FILE_COLUMNS,
    "its files",
    create=Volume,
)
add_file_commands(
    volume_group, Volume, "volume", "List the files and directories at PATH (default: the root)."
)


@volume_group.command("put")
@click.argument("name")
@click.argument("local", type=click.Path(exists=True, path_type=Path))
@click.argument("remote", default="/")
@click.option("--force", "-f", is_flag=True, help="Overwrite files that exist in the volume.")
@friendly_errors
def put(name: str, local: Path, remote: str, force: bool) -> None:
    """Upload a file or a directory: to REMOTE (a path, or a directory if it ends in '/').

    \b
      gw volume put data model.bin              -> /model.bin
      gw volume put data model.bin /models/     -> /models/model.bin
      gw volume put data ./dataset /dataset     -> /dataset/...
    """
    vol = Volume.from_name(name).hydrate()
    batch = vol.batch_upload(force=force)
    if local.is_dir():
        batch.put_directory(local, remote)
    else:
        batch.put_file(local, remote if remote != "/" else f"/{local.name}")
    with _progress(f"uploading to {name}", batch.total_bytes) as advance:
        batch.progress = advance
        batch.upload()
    console.print(f"[green]✓[/] uploaded {size_text(batch.total_bytes)} to volume {name!r}")


@volume_group.command("get")
@click.argument("name")
@click.argument("remote")
@click.argument("local", default=".")
@click.option("--force", "-f", is_flag=True, help="Overwrite local files.")
@friendly_errors
def get(name: str, remote: str, local: str, force: bool) -> None:
    """Download a file or a directory to LOCAL (default: the current directory; '-' writes
    a file to stdout).

    \b
      gw volume get data /models/model.bin          -> ./model.bin
      gw volume get data /models ./weights          -> ./weights/... (the files under /models)
    """
    vol = Volume.from_name(name)
    clean = normalize(remote, allow_root=True)
    entries = vol.listdir(clean, recursive=True)
    files = [e for e in entries if e.type == FileEntryType.FILE]
    single = len(files) == 1 and files[0].path == clean and clean != ""
    if local == "-":
        if not single:
            raise exc.InvalidError(f"{remote!r} is a directory: only a file can go to stdout")
        for chunk in vol.read_file(clean):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    dest = Path(local)
    if single:
        name_ = PurePosixPath(clean).name
        target = dest / name_ if dest.is_dir() or local.endswith(("/", os.sep)) else dest
        plan = [(files[0], target)]
    else:
        prefix = clean + "/" if clean else ""
        plan = [(e, dest / e.path[len(prefix) :]) for e in files]
    existing = [str(t) for _, t in plan if t.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise exc.AlreadyExistsError(f"{existing[0]} exists{more}; pass --force to overwrite")
    total = sum(e.size for e, _ in plan)
    with _progress(f"downloading from {name}", total) as advance:
        for entry, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.gw-download")
            with open(tmp, "wb") as f:
                for chunk in vol.read_file(entry.path):
                    f.write(chunk)
                    advance(len(chunk))
            os.replace(tmp, target)
            with contextlib.suppress(OSError):
                os.utime(target, (entry.mtime, entry.mtime))
    console.print(f"[green]✓[/] downloaded {len(plan)} file(s), {size_text(total)}, to {dest}")


@contextlib.contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A callback that advances a byte progress bar (shown for large transfers only)."""
    if total < PROGRESS_MIN_BYTES:
        yield lambda n: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(label, total=total)
    with bar:
        yield lambda n: bar.advance(task, n)
