"""``gw environment create|list|delete|update``, and ``--env``/``-e`` for every command that acts
on apps or named objects."""

from __future__ import annotations

import os
import time
from typing import Any

import click
from rich.table import Table

from gworker_client import _config, environments

from ._common import console, friendly_errors


def _set_environment(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    # the SDK reads GW_ENVIRONMENT for every request (and the app's code sees the same), so
    # --env is GW_ENVIRONMENT for this one command
    if value:
        os.environ["GW_ENVIRONMENT"] = value
        ctx.meta[ENV_GIVEN] = value  # for commands where an id makes --env meaningless


# ``click.Context.meta`` key: the --env given on the command line, if any
ENV_GIVEN = "gw.env_given"


def env_option() -> click.Option:
    return click.Option(
        ["--env", "-e"],
        metavar="NAME",
        expose_value=False,
        is_eager=True,
        callback=_set_environment,
        help="The environment to act in (default: GW_ENVIRONMENT, else main).",
    )


def add_env_options(command: click.Command, skip: set[str], path: str = "") -> None:
    """Give every command under ``command`` an ``--env`` option, except those in ``skip``
    (paths like ``"token"`` or ``"sandbox stop"``: they act on no environment)."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            where = f"{path} {name}".strip()
            if where not in skip:
                add_env_options(sub, skip, where)
        return
    if not any("--env" in p.opts for p in command.params):
        command.params.insert(0, env_option())


@click.group("environment")
def environment_group() -> None:
    """Create, list, update and delete environments.

    An environment holds its own apps, secrets, volumes, dicts and queues; the same app name
    deployed to two environments is two deployments with their own URLs.
    """


@environment_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly_errors
def list_environments(as_json: bool) -> None:
    """List the environments."""
    envs = environments.list_environments()
    active = _config.environment()
    if as_json:
        import json

        rows: list[dict[str, Any]] = [
            {"name": e.name, "web_suffix": e.webhook_suffix, "active": e.name == active}
            for e in envs
        ]
        click.echo(json.dumps(rows))
        return
    table = Table("name", "web suffix", "apps", "active", "created")
    for e in envs:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created_at))
        table.add_row(e.name, e.webhook_suffix, str(e.apps), str(e.name == active), created)
    console.print(table)


@environment_group.command("create")
@click.argument("name")
@friendly_errors
def create(name: str) -> None:
    """Create an environment."""
    environments.create_environment(name)
    click.echo(f"Environment created: {name}")


@environment_group.command("delete")
@click.argument("name")
@click.option("--yes", "-y", "--confirm", "yes", is_flag=True, help="Do not ask to confirm.")
@friendly_errors
def delete(name: str, yes: bool) -> None:
    """Delete an environment: stops its apps and deletes its secrets, volumes, dicts and
    queues, irrevocably."""
    if not yes:
        click.confirm(
            f"Delete the environment {name!r} and all its apps, secrets, volumes, dicts and"
            " queues, irrevocably?",
            abort=True,
        )
    environments.delete_environment(name)
    click.echo(f"Environment deleted: {name}")


@environment_group.command("update")
@click.argument("current_name")
@click.option("--set-name", default=None, help="A new name (while none of its apps runs).")
@click.option("--set-web-suffix", default=None, help="The suffix of its apps' URLs ('' for none).")
@friendly_errors
def update(current_name: str, set_name: str | None, set_web_suffix: str | None) -> None:
    """Rename an environment or change its web suffix."""
    if set_name is None and set_web_suffix is None:
        raise click.UsageError("give at least one of --set-name or --set-web-suffix")
    environments.update_environment(current_name, new_name=set_name, new_web_suffix=set_web_suffix)
    click.echo("Environment updated")
