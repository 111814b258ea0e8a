"""``gw run FILE[::NAME] [--options]`` and ``gw deploy FILE``."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import click
from rich.table import Table

from gworker_client import App, Function, LocalEntrypoint, enable_output
from gworker_client._modal_import import install as install_modal_import

from ._common import console, friendly_errors, import_app_file, import_app_module

_TYPES: dict[Any, Any] = {str: str, int: int, float: float, bool: bool}


def _target(app: App, name: str | None) -> LocalEntrypoint | Function:
    entrypoints, functions = app.registered_entrypoints, app.registered_functions
    if name:
        if name in entrypoints:
            return entrypoints[name]
        if name in functions:
            return functions[name]
        known = sorted(entrypoints) + sorted(functions)
        raise click.ClickException(f"{name!r} is not in app {app.name!r}; it has: {known}")
    if len(entrypoints) == 1:
        return next(iter(entrypoints.values()))
    if not entrypoints and len(functions) == 1:
        return next(iter(functions.values()))
    known = sorted(entrypoints) + sorted(functions)
    raise click.ClickException(
        f"app {app.name!r} has several things to run; pick one with FILE::NAME from {known}"
    )


def _param_type(p: inspect.Parameter, owner: str) -> Any:
    annotation = p.annotation
    if isinstance(annotation, str):
        annotation = {"str": str, "int": int, "float": float, "bool": bool}.get(
            annotation, annotation
        )
    if annotation is inspect.Parameter.empty:
        annotation = type(p.default) if p.default not in (inspect.Parameter.empty, None) else str
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        # `str | None` / `Optional[str]`, as `modal run` takes them: left out, the default
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else annotation
    if annotation not in _TYPES:
        raise click.ClickException(
            f"parameter {p.name!r} of {owner} has type {annotation!r}; `gw run` takes str, int,"
            " float and bool parameters (or one of them `| None`)"
        )
    return _TYPES[annotation]


def signature_command(f: Callable[..., Any], owner: str, run: Callable[..., None]) -> click.Command:
    """A click command whose options are ``f``'s parameters, as ``--kebab-case``."""
    params: list[click.Parameter] = []
    try:  # string annotations (`from __future__ import annotations`) become types
        signature = inspect.signature(f, eval_str=True)
    except Exception:  # a name the annotation uses is not importable here: read them as text
        signature = inspect.signature(f)
    for p in signature.parameters.values():
        kind = _param_type(p, owner)
        flag = p.name.replace("_", "-")
        required = p.default is inspect.Parameter.empty
        default = None if required else p.default
        if kind is bool:
            params.append(
                click.Option(
                    [f"--{flag}/--no-{flag}", p.name],
                    default=bool(default),
                    required=required,
                    show_default=True,
                )
            )
        else:
            params.append(
                click.Option(
                    [f"--{flag}", p.name],
                    type=kind,
                    default=default,
                    required=required,
                    show_default=not required,
                )
            )
    return click.Command(owner, params=params, callback=run, help=inspect.getdoc(f))


def print_web_urls(app: App) -> None:
    for name, url in sorted(app._web_urls.items()):
        console.print(f"[green]✓[/] web endpoint [bold]{name}[/] => {url}", soft_wrap=True)


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        # what follows FILE is the entrypoint's own options, as in `modal run`
        "allow_interspersed_args": False,
    },
    add_help_option=False,
)
@click.argument("ref", metavar="FILE[::NAME]", required=False)
@click.option(
    "-m", "module", metavar="MODULE[::NAME]", help="Run a module by import path, as python -m."
)
@click.option("-q", "--quiet", is_flag=True, help="Show no container logs or progress.")
@click.option(
    "-d",
    "--detach",
    is_flag=True,
    help="Keep the app running its calls after this client exits (it stops when they are done).",
)
@click.option(
    "-i", "--interactive", is_flag=True, help="Attach a terminal to containers (refused)."
)
@click.option("--help", "show_help", is_flag=True, help="Show help for the command or the app.")
@click.pass_context
@friendly_errors
def run(
    ctx: click.Context,
    ref: str | None,
    module: str | None,
    quiet: bool,
    detach: bool,
    interactive: bool,
    show_help: bool,
) -> None:
    """Run an app's local entrypoint (or one function) on gworker; options follow its signature.

    \b
      gw run app.py --name Ada --times 3
      gw run app.py::hello --name Ada
      gw run -m package.module::hello
    """
    if (ref is None) == (module is None):
        if ref is not None:
            raise click.ClickException("give either FILE or -m MODULE, not both")
        click.echo(ctx.get_help())
        ctx.exit(0 if show_help else 2)
    if interactive:
        raise click.ClickException(
            "gw run -i/--interactive is not supported: gworker attaches no terminal to containers,"
            " so gw.interact(), input() and breakpoint() cannot reach one there. Run the code"
            " locally with .local() to use this terminal, or pass values as arguments or"
            " through a gw.Queue"
        )
    install_modal_import(announce=not quiet)
    _, app, name = import_app_module(module) if module else import_app_file(ref or "")
    target = _target(app, name)
    label = f"-m {module}" if module else ref

    def go(**kwargs: Any) -> None:
        output = contextlib.nullcontext() if quiet else enable_output()
        with output, app.run(detach=detach):
            if not quiet:
                console.print(f"[green]✓[/] app [bold]{app.name}[/] running ({app.app_id})")
                print_web_urls(app)
            if isinstance(target, Function) and target.is_generator:
                for item in target.remote_gen(**kwargs):  # each item as it is produced
                    click.echo(item)
            elif isinstance(target, Function):
                result = target.remote(**kwargs)
                if result is not None:
                    click.echo(result)
            else:
                result = target(**kwargs)
                if inspect.iscoroutine(result):  # an `async def` entrypoint runs to completion
                    asyncio.run(result)

    raw = target.raw_f if isinstance(target, LocalEntrypoint) else target._raw_f
    assert raw is not None
    command = signature_command(raw, f"gw run {label}", go)
    command.main(
        args=ctx.args + (["--help"] if show_help else []),
        standalone_mode=False,
        prog_name=f"gw run {label}",
    )


@click.command()
@click.argument("file", metavar="FILE")
@click.option("--name", help="Deploy under this app name instead of the App's own.")
@friendly_errors
def deploy(file: str, name: str | None) -> None:
    """Deploy an app: its functions stay callable (gw.Function.from_name) until stopped."""
    install_modal_import()
    _, app, _ = import_app_file(file)
    app.deploy(name=name)
    table = Table("function", "id", title=f"deployed app {app.name} ({app.app_id})")
    for tag, fn in sorted(app.registered_functions.items()):
        table.add_row(tag, fn.object_id)
    console.print(table)
    print_web_urls(app)
    console.print(f"call them with gw.Function.from_name({app.name!r}, NAME)")
