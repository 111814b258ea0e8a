"""``gw container list|logs|exec|stop``: running function containers and sandboxes."""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import quote, urlencode

import click
from rich.table import Column, Table

from gworker_client import Sandbox, _api

from ._common import console, friendly_errors
from .sandbox import _app_id
from .sandbox import logs as sandbox_logs
from .shell import _raw_terminal, relay, running_handle

LOG_POLL_S = 25.0


@click.group("container")
def container_group() -> None:
    """List, read, enter and stop running containers and sandboxes."""


@container_group.command("list")
@click.option("--app", "app_ref", default=None, help="Only this app's (a name or an id).")
@friendly_errors
def list_containers(app_ref: str | None) -> None:
    """List running function containers and sandboxes."""
    query = f"?{urlencode({'app_id': _app_id(app_ref)})}" if app_ref else ""
    rows = _api.client().get(f"/v1/running{query}")["containers"]
    table = Table(Column("id", no_wrap=True), "kind", "app", "name", "state", "started", "gpu")
    for r in rows:
        started = time.strftime("%m-%d %H:%M:%S", time.localtime(r["started_at"]))
        table.add_row(
            r["id"], r["kind"], r["app_id"], r["name"], r["state"], started, r["gpu"] or ""
        )
    console.print(table)


@container_group.command("logs")
@click.argument("container_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until it stops.")
@click.pass_context
@friendly_errors
def logs(ctx: click.Context, container_id: str, follow: bool) -> None:
    """Print a container's log (a sandbox's: its main command's output)."""
    if container_id.startswith("sb-"):
        ctx.invoke(sandbox_logs, sandbox_id=container_id, follow=follow)
        return
    after = 0
    client = _api.client()
    while True:
        query = urlencode({"after": after, "timeout": LOG_POLL_S if follow else 0})
        resp = client.get(f"/v1/running/{quote(container_id)}/logs?{query}", timeout=60)
        for seq, stream, text in resp["logs"]:
            (sys.stderr if stream == "stderr" else sys.stdout).write(text)
            after = seq
        sys.stdout.flush()
        if not resp["logs"] and (not follow or not resp["running"]):
            return


@container_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("--pty/--no-pty", default=None, help="Run on a terminal (default: if this is one).")
@click.argument("container_id")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@friendly_errors
def exec_command(pty: bool | None, container_id: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in a running sandbox or function container; exits with its exit code."""
    sb = running_handle(container_id)
    on_terminal = os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    use_pty = on_terminal if pty is None else pty
    p = sb.exec(*command, pty=use_pty)
    if use_pty and on_terminal:
        with _raw_terminal(sys.stdin.fileno()):
            code = relay(p, True)
    else:
        code = relay(p, use_pty)
    sys.exit(code)


@container_group.command("stop")
@click.argument("container_id")
@friendly_errors
def stop(container_id: str) -> None:
    """Stop a container now (its running inputs go to another), or terminate a sandbox."""
    if container_id.startswith("sb-"):
        Sandbox.from_id(container_id).terminate()
    else:
        _api.client().post(f"/v1/running/{quote(container_id)}/stop")
    console.print(f"[green]✓[/] stopped {container_id}")
