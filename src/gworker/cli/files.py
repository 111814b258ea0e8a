"""The commands of the kinds whose objects hold files, written once: ``gw volume|nfs ls`` and
``rm``, their list columns, and how a size reads."""

from __future__ import annotations

import click
from rich.table import Table

from gworker_client._volume import FileEntryType, normalize

from ._common import console, friendly_errors
from .objects import Column, count_column, created_column, when


def size_text(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# The list columns of Volumes and network file systems.
FILE_COLUMNS: list[Column] = [
    count_column("files"),
    ("size", lambda row: size_text(row["bytes"])),
    created_column(),
]


def add_file_commands(group: click.Group, cls: type, what: str, ls_help: str) -> None:
    """``gw KIND ls NAME [PATH]`` and ``gw KIND rm NAME PATH`` for ``cls`` (an SDK class with
    ``from_name``, ``listdir`` and ``remove_file``), ``what`` naming it in messages."""

    @group.command("ls", help=ls_help)
    @click.argument("name")
    @click.argument("path", default="/")
    @click.option("-r", "--recursive", is_flag=True, help="List everything below PATH.")
    @friendly_errors
    def ls(name: str, path: str, recursive: bool) -> None:
        entries = cls.from_name(name).listdir(path, recursive=recursive)  # type: ignore[attr-defined]
        title = f"{name}:/{normalize(path, allow_root=True)}"
        table = Table("path", "type", "size", "modified", title=title)
        for e in entries:
            is_dir = e.type == FileEntryType.DIRECTORY
            table.add_row(
                e.path + ("/" if is_dir else ""),
                e.type.value,
                "" if is_dir else size_text(e.size),
                when(e.mtime),
            )
        console.print(table)

    @group.command("rm", help=f"Remove a file (or, with -r, a directory) from a {what}.")
    @click.argument("name")
    @click.argument("path")
    @click.option("-r", "--recursive", is_flag=True, help="Remove a directory and all under it.")
    @friendly_errors
    def rm(name: str, path: str, recursive: bool) -> None:
        cls.from_name(name).remove_file(path, recursive=recursive)  # type: ignore[attr-defined]
        console.print(f"[green]✓[/] removed {path!r} from {what} {name!r}")
