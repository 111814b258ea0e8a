"""``gw dict create|list|get|items|clear|delete``."""

from __future__ import annotations

import itertools

import click

from gworker_client import Dict
from gworker_client._protocol.objects import ObjectKind

from ._common import console, friendly_errors
from .objects import ITEMS, object_group, yes_option
from .plain_data import show, unsafe_option, warn_unsafe

dict_group = object_group(
    ObjectKind.DICT,
    "Create, inspect and delete Dicts (gw.Dict).",
    ITEMS,
    "its entries",
    create=Dict,
)


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
