"""The commands every kind of named object has, written once: ``gw KIND create NAME`` (for the
kinds created empty), ``gw KIND list`` and ``gw KIND delete NAME``, over the registry's routes
(``/v1/{kinds}``, see ``gworker.server.registry``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import click
from rich.table import Table

from gworker_client import _api, _config
from gworker_client._object import _Object
from gworker_client._protocol.objects import ObjectKind

from ._common import console, friendly_errors

# A list column: its title and how a row of the registry's list shows in it.
Column = tuple[str, Callable[[dict[str, Any]], str]]

yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def count_column(field: str) -> Column:
    return (field, lambda row: str(row[field]))


def created_column() -> Column:
    return ("created", lambda row: when(row["created_at"]))


def object_group(
    kind: ObjectKind,
    help: str,
    columns: Sequence[Column],
    contents: str,
    *,
    create: type[_Object] | None = None,
) -> click.Group:
    """The ``gw KIND`` group with its lifecycle commands (``create`` if ``create`` is the SDK
    class that makes empty ones); the kind's own commands are added to it."""
    group = click.Group(kind.value, help=help)
    if create is not None:
        add_create(group, create)
    add_list(group, kind, columns)
    add_delete(group, kind, contents)
    return group


# The list columns of Dicts and Queues.
ITEMS = [count_column("items"), created_column()]


def add_create(group: click.Group, cls: type[_Object]) -> None:
    """``gw KIND create NAME``: a new, empty named object."""
    kind = cls._kind

    @group.command("create", help=f"Create a named {kind.sdk_class}.")
    @click.argument("name")
    @friendly_errors
    def create(name: str) -> None:
        cls._create(name)
        env = _config.environment()
        console.print(f"[green]✓[/] created {kind} {name!r} in environment {env!r}")


def add_list(group: click.Group, kind: ObjectKind, columns: Sequence[Column]) -> None:
    """``gw KIND list``: the environment's named objects of the kind, one row each."""

    @group.command("list", help=f"List the named {kind.sdk_class}s of this environment.")
    @friendly_errors
    def list_objects() -> None:
        env = _config.environment()
        rows = _api.client().get(f"/v1/{kind.plural}?env={quote(env)}")["objects"]
        table = Table("name", *(title for title, _ in columns), title=f"{kind}s in {env!r}")
        for row in rows:
            table.add_row(row["name"], *(show(row) for _, show in columns))
        console.print(table)


def add_delete(group: click.Group, kind: ObjectKind, contents: str) -> None:
    """``gw KIND delete NAME [--yes]``: a missing name fails before asking."""

    @group.command("delete", help=f"Delete a {kind.sdk_class} and {contents}.")
    @click.argument("name")
    @yes_option
    @friendly_errors
    def delete(name: str, yes: bool) -> None:
        client, env = _api.client(), _config.environment()
        found = client.post(f"/v1/{kind.plural}/lookup", {"name": name, "environment": env})
        if not yes:
            click.confirm(f"Delete {kind} {name!r} and {contents}?", abort=True)
        client.post(f"/v1/{kind.plural}/{found['id']}/delete")
        console.print(f"[green]✓[/] deleted {kind} {name!r}")
