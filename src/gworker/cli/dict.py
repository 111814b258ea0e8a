"""``gw dict create|list|get|items|clear|delete``, and what ``gw queue`` shares with it."""

from __future__ import annotations

import itertools
import time
from urllib.parse import quote

import click
from rich.table import Table

from gworker_client import Dict, _api, _config
from gworker_client._object import _Object

from ._common import console, friendly_errors
from .plain_data import show, unsafe_option, warn_unsafe


def create_object(cls: type[_Object], name: str) -> None:
    cls._create(name)
    console.print(f"[green]✓[/] created {cls._kind} {name!r} in environment {_env()!r}")


def list_objects(kind: str) -> None:
    objects = _api.client().get(f"/v1/{kind}s?env={quote(_env())}")["objects"]
    table = Table("name", "items", "created", title=f"{kind}s in environment {_env()!r}")
    for o in objects:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(o["created_at"]))
        table.add_row(o["name"], str(o["items"]), created)
    console.print(table)


def delete_object(cls: type[_Object], name: str, yes: bool) -> None:
    cls.from_name(name).hydrate()  # a missing name fails before asking
    if not yes:
        click.confirm(f"Delete {cls._kind} {name!r} and everything in it?", abort=True)
    cls.delete(name)
    console.print(f"[green]✓[/] deleted {cls._kind} {name!r}")


def _env() -> str:
    return _config.environment()


yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


@click.group("dict")
def dict_group() -> None:
    """Create, inspect and delete Dicts (gw.Dict)."""


@dict_group.command("create")
@click.argument("name")
@friendly_errors
def create(name: str) -> None:
    """Create a named Dict."""
    create_object(Dict, name)


@dict_group.command("list")
@friendly_errors
def list_dicts() -> None:
    """List the named Dicts of this environment."""
    list_objects("dict")


@dict_group.command("get")
@click.argument("name")
@click.argument("key")
@unsafe_option
@friendly_errors
def get(name: str, key: str, unsafe: bool) -> None:
    """Print the value of a (string) KEY (plain data only, unless --unsafe-unpickle)."""
    data = Dict.from_name(name)._get_raw(key)
    if data is None:
        raise click.ClickException(f"dict {name!r} has no key {key!r}")
    if unsafe:
        warn_unsafe()
    click.echo(show(data, unsafe))


@dict_group.command("items")
@click.argument("name")
@click.option("-n", "limit", default=20, show_default=True, help="How many entries to show.")
@unsafe_option
@friendly_errors
def items(name: str, limit: int, unsafe: bool) -> None:
    """Print the first entries, one `key: value` per line (plain data only, unless
    --unsafe-unpickle)."""
    if unsafe:
        warn_unsafe()
    d = Dict.from_name(name)
    for key, value in itertools.islice(d._scan_raw(values=True), limit):
        click.echo(f"{show(key, unsafe)}: {show(value or b'', unsafe)}")
    total = len(d)
    if total > limit:
        console.print(f"[dim]… {total - limit} more (of {total}); see -n[/]")


@dict_group.command("clear")
@click.argument("name")
@yes_option
@friendly_errors
def clear(name: str, yes: bool) -> None:
    """Remove every entry of a Dict."""
    d = Dict.from_name(name).hydrate()
    if not yes:
        click.confirm(f"Remove every entry of dict {name!r}?", abort=True)
    d.clear()
    console.print(f"[green]✓[/] cleared dict {name!r}")


@dict_group.command("delete")
@click.argument("name")
@yes_option
@friendly_errors
def delete(name: str, yes: bool) -> None:
    """Delete a Dict and its entries."""
    delete_object(Dict, name, yes)
