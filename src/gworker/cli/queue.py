"""``gw queue create|list|peek|len|clear|delete``."""

from __future__ import annotations

import click

from gworker_client import Queue
from gworker_client._protocol.objects import ObjectKind

from ._common import console, friendly_errors
from .objects import ITEMS, object_group, yes_option
from .plain_data import show, unsafe_option, warn_unsafe

partition_option = click.option(
    "--partition", "-p", default=None, help="A partition key (default: the default partition)."
)


queue_group = object_group(
    ObjectKind.QUEUE,
    "Create, inspect and delete Queues (gw.Queue).",
    ITEMS,
    "its items",
    create=Queue,
)


@queue_group.command("peek")
@click.argument("name")
@click.option("-n", "n", default=1, show_default=True, help="How many items to show.")
@partition_option
@unsafe_option
@friendly_errors
def peek(name: str, n: int, partition: str | None, unsafe: bool) -> None:
    """Print the first items of a partition, without removing them (plain data only, unless
    --unsafe-unpickle)."""
    if unsafe:
        warn_unsafe()
    q = Queue.from_name(name)
    for _, value in q._peek(partition, 0, max(n, 1), 0.0):
        click.echo(show(value, unsafe))


@queue_group.command("len")
@click.argument("name")
@partition_option
@click.option("--total", is_flag=True, help="Count the items of every partition.")
@friendly_errors
def length(name: str, partition: str | None, total: bool) -> None:
    """Print how many items a partition (or, with --total, the whole Queue) holds."""
    click.echo(Queue.from_name(name).len(partition=partition, total=total))


@queue_group.command("clear")
@click.argument("name")
@partition_option
@click.option("--all", "all_partitions", is_flag=True, help="Clear every partition.")
@yes_option
@friendly_errors
def clear(name: str, partition: str | None, all_partitions: bool, yes: bool) -> None:
    """Remove the items of a partition (or, with --all, of every partition)."""
    q = Queue.from_name(name).hydrate()
    what = "every partition" if all_partitions else f"partition {partition or '(default)'}"
    if not yes:
        click.confirm(f"Remove the items of {what} of queue {name!r}?", abort=True)
    q.clear(partition=partition, all=all_partitions)
    console.print(f"[green]✓[/] cleared {what} of queue {name!r}")
