"""``gw serve FILE``: run an app with live reload until Ctrl-C (or ``--timeout``).

The app runs ephemerally under one app id for the whole session, so its URLs and names stay the
same. When one of its source files (the entry file and the local modules it imports, the same files
its code bundle carries) changes, the module is imported again and published into the same app: the
control plane retires the old functions, lets their running inputs finish and starts containers
with the new code. An edit that does not import (a syntax error, say) is shown, and the last good
version keeps serving.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import click
import watchfiles

from gworker_client import App, _api, _code, _output
from gworker_client import exception as exc
from gworker_client._app import _Heartbeat
from gworker_client._modal_import import install as install_modal_import

from ._common import console, friendly_errors, import_app_file


def _sources(module: Any) -> set[Path]:
    return set(_code.local_sources(module, module.__name__).values())


def _forget(paths: set[Path]) -> None:
    """Drop the app's own modules from sys.modules, so the next import reads them again."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() in paths:
            del sys.modules[name]


class Session:
    """One ``gw serve``: an ephemeral app republished on every good edit."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.client = _api.client()
        self.app_id: str | None = None
        self.version = 0
        self.watched: set[Path] = {Path(file).resolve()}
        self.heartbeat: _Heartbeat | None = None
        self.logs: _output.LogFollower | None = None

    def publish(self) -> None:
        """Import the file afresh and publish it; on failure keep the running version."""
        _forget(self.watched)
        try:
            module, app, _ = import_app_file(self.file)
            self.watched = _sources(module) | {Path(self.file).resolve()}
            app._publish(self.client, mode="ephemeral", into=self.app_id)
        except (Exception, click.ClickException) as e:
            if self.app_id is None:
                raise
            detail = e.format_message() if isinstance(e, click.ClickException) else _short(e)
            console.print(f"[bold red]reload failed[/], still serving version {self.version}:")
            console.print(detail, markup=False)
            return
        self.version += 1
        if self.app_id is None:
            self.app_id = app.app_id
            assert self.app_id is not None
            self.heartbeat = _Heartbeat(self.client, self.app_id)
            if _output.is_enabled():
                self.logs = _output.LogFollower(self.app_id, app._log_cursor).start()
        self._announce(app)

    def _announce(self, app: App) -> None:
        verb = "serving" if self.version == 1 else "reloaded"
        console.print(
            f"[green]✓[/] {verb} app [bold]{app.name}[/] ({self.app_id}), version {self.version}:"
            f" {', '.join(sorted(app.registered_functions))}"
        )

    def wait_for_change(self, stop: threading.Event) -> bool:
        """Block until a watched file changes (True) or ``stop`` is set (False)."""
        roots = {p.parent for p in self.watched}
        for changes in watchfiles.watch(*roots, stop_event=stop, debounce=200, rust_timeout=500):
            if any(Path(path).resolve() in self.watched for _, path in changes):
                return True
        return False

    def close(self) -> None:
        if self.heartbeat:
            self.heartbeat.stop()
        if self.app_id:
            with contextlib.suppress(exc.Error):
                self.client.post(f"/v1/apps/{self.app_id}/stop")
        if self.logs:
            self.logs.stop()


def _short(e: BaseException) -> str:
    if isinstance(e, SyntaxError):
        return "".join(traceback.format_exception_only(type(e), e)).rstrip()
    return "".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:]).rstrip()


@click.command()
@click.argument("file", metavar="FILE")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds (for scripts); default: until Ctrl-C.",
)
@friendly_errors
def serve(file: str, timeout: float | None) -> None:
    """Run an app and reload it whenever its source files change.

    \b
      gw serve app.py
      gw serve app.py --timeout 60
    """
    install_modal_import()  # an unmodified Modal app serves as it runs
    stop = threading.Event()
    if timeout is not None:
        timer = threading.Timer(timeout, stop.set)
        timer.daemon = True
        timer.start()
    session = Session(file)
    with _output.enable_output():
        try:
            session.publish()
            console.print("watching for changes; Ctrl-C stops")
            while session.wait_for_change(stop):
                session.publish()
        except KeyboardInterrupt:
            pass
        finally:
            session.close()
            console.print(f"[green]✓[/] stopped app {session.app_id}")
