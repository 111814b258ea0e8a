"""What the CLI's commands share: a rich console, error display, importing a user's app file."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from gworker_client import App
from gworker_client import exception as exc

console = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(f: F) -> F:
    """gworker's own errors print as one clear line, not a traceback."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except exc.Error as e:
            console.print(f"[bold red]Error:[/] {e}")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def import_app_file(ref: str) -> tuple[Any, App, str | None]:
    """Import ``path/to/app.py[::name]``; return the module, its App and the name, if any."""
    path_str, _, name = ref.partition("::")
    path = Path(path_str)
    if not path.exists():
        raise click.ClickException(f"file {path_str!r} does not exist")
    if path.suffix != ".py":
        raise click.ClickException(f"{path_str!r} is not a Python file (expected a .py file)")
    path = path.resolve()
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return (module, *_the_app(module, path_str, name or None))


def import_app_module(ref: str) -> tuple[Any, App, str | None]:
    """Import ``package.module[::name]`` as Python's ``-m`` does, from the current directory."""
    module_name, _, name = ref.partition("::")
    sys.path.insert(0, str(Path.cwd()))
    if importlib.util.find_spec(module_name.split(".")[0]) is None:
        raise click.ClickException(
            f"no module named {module_name!r} here or on sys.path (-m takes an import path such"
            " as package.module; give a file as FILE.py)"
        )
    module = importlib.import_module(module_name)
    return (module, *_the_app(module, module_name, name or None))


def _the_app(module: Any, where: str, name: str | None) -> tuple[App, str | None]:
    """The module's App and what to run in it. As with ``modal run``, ``NAME`` may start with
    the variable that holds the App (``::app``, ``::app.main``), which picks it among several."""
    apps = {k: v for k, v in vars(module).items() if isinstance(v, App)}
    head, _, rest = (name or "").partition(".")
    if head in apps:
        return apps[head], rest or None
    if not apps:
        raise click.ClickException(
            f'{where} defines no gworker App: add `app = gw.App("name")` at module level'
        )
    distinct = {id(a): k for k, a in apps.items()}
    if len(distinct) > 1:
        raise click.ClickException(
            f"{where} defines {len(distinct)} Apps ({', '.join(sorted(distinct.values()))}):"
            f" pick one with {where}::VARIABLE (or ::VARIABLE.NAME)"
        )
    return next(iter(apps.values())), name
