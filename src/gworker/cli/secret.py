"""``gw secret create|list|delete``: named secrets of an environment (values are never shown)."""

from __future__ import annotations

from pathlib import Path

import click

from gworker_client import exception as exc
from gworker_client._protocol.objects import ObjectKind
from gworker_client._secret import create_named, key_problem, parse_dotenv

from ._common import console, friendly_errors
from .objects import created_column, object_group, when

secret_group = object_group(
    ObjectKind.SECRET,
    "Create, list and delete secrets (gw.Secret.from_name).",
    [
        ("keys", lambda row: ", ".join(row["keys"])),
        created_column(),
        ("updated", lambda row: when(row["updated_at"])),
    ],
    "its values (apps using it fail to start containers)",
)


def _pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            # never echo the argument: it may be a value typed in the wrong place
            raise exc.InvalidError(
                f"argument {len(values) + 1} is not KEY=VALUE (expected e.g. API_KEY=xxx)"
            )
        problem = key_problem(key)
        if problem:
            raise exc.InvalidError(problem)
        values[key] = value
    return values


@secret_group.command("create")
@click.argument("name")
@click.argument("pairs", nargs=-1, metavar="KEY=VALUE...")
@click.option(
    "--from-dotenv",
    "dotenv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read KEY=VALUE lines from this .env file (KEY=VALUE arguments win).",
)
@click.option("--force", is_flag=True, help="Replace the values of an existing secret.")
@friendly_errors
def create(name: str, pairs: tuple[str, ...], dotenv: Path | None, force: bool) -> None:
    """Create a named secret: gw secret create openai OPENAI_API_KEY=sk-...

    \b
    Use it with @app.function(secrets=[gw.Secret.from_name("openai")]); its keys become
    environment variables in the function's containers.
    """
    values = parse_dotenv(dotenv.read_text(), str(dotenv)) if dotenv else {}
    values.update(_pairs(pairs))
    if not values:
        raise click.UsageError("give at least one KEY=VALUE (or --from-dotenv FILE)")
    replaced = create_named(name, values, force=force)
    verb = "replaced" if replaced else "created"
    keys = ", ".join(sorted(values))
    console.print(f"[green]✓[/] {verb} secret {name!r} (keys: {keys})")
