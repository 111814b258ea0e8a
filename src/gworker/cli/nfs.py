"""``gw nfs create|list|ls|put|get|rm|delete``: network file systems and their files (Modal's
``modal nfs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath

import click

from gworker_client import NetworkFileSystem
from gworker_client._protocol.objects import ObjectKind
from gworker_client._volume import normalize

from ._common import console, friendly_errors
from .files import FILE_COLUMNS, add_file_commands
from .objects import object_group

nfs_group = object_group(
    ObjectKind.NFS,
    "Create network file systems (gw.NetworkFileSystem), move files in and out, delete them.",
    FILE_COLUMNS,
    "its files",
    create=NetworkFileSystem,
)
add_file_commands(
    nfs_group,
    NetworkFileSystem,
    "network file system",
    "List the files and directories at PATH (default: the root; a glob with * works).",
)


@nfs_group.command("put")
@click.argument("name")
@click.argument("local", type=click.Path(exists=True, path_type=Path))
@click.argument("remote", default="/")
@friendly_errors
def put(name: str, local: Path, remote: str) -> None:
    """Upload a file or a directory to REMOTE (a directory if it ends in '/')."""
    nfs = NetworkFileSystem.from_name(name)
    if local.is_dir():
        nfs.add_local_dir(local, remote if remote != "/" else None)
    else:
        target = remote + local.name if remote.endswith("/") else remote
        nfs.add_local_file(local, target)
    console.print(f"[green]✓[/] uploaded {local} to network file system {name!r}")


@nfs_group.command("get")
@click.argument("name")
@click.argument("remote")
@click.argument("local", default=".")
@friendly_errors
def get(name: str, remote: str, local: str) -> None:
    """Download a file to LOCAL (a directory, a file name, or '-' for stdout)."""
    nfs = NetworkFileSystem.from_name(name)
    chunks = nfs.read_file(remote)
    if local == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    dest = Path(local)
    if dest.is_dir() or local.endswith(("/", os.sep)):
        dest = dest / PurePosixPath(normalize(remote)).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.gw-download")
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, dest)
    console.print(f"[green]✓[/] downloaded {remote} to {dest}")
