"""``gw sandbox list|logs|stop``."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO
from urllib.parse import urlencode

import click
from rich.table import Column, Table

from gworker_client import Sandbox, _api, _config
from gworker_client._container_process import StreamReader

from ._common import console, friendly_errors


@click.group("sandbox")
def sandbox_group() -> None:
    """List, read and stop sandboxes (gw.Sandbox)."""


def _app_id(ref: str) -> str:
    return str(_api.resolve_app(ref)["id"])


@sandbox_group.command("list")
@click.option("--app", "app_ref", default=None, help="Only this app's (a name or an id).")
@click.option("--all", "every", is_flag=True, help="Ended sandboxes too.")
@friendly_errors
def list_sandboxes(app_ref: str | None, every: bool) -> None:
    """List the running sandboxes of this environment's apps (with --all, ended ones too)."""
    query = {"app_id": _app_id(app_ref)} if app_ref else {}
    if every:
        query["all"] = "1"
    rows = _api.client().get(f"/v1/sandboxes?{urlencode(query)}")["sandboxes"]
    if not app_ref:  # the environment's (--env): its apps' sandboxes
        env = urlencode({"env": _config.environment()})
        apps = {a["id"] for a in _api.client().get(f"/v1/apps?{env}")["apps"]}
        rows = [r for r in rows if r["app_id"] in apps]
    # ids are what the other commands take: never cut short
    table = Table(Column("id", no_wrap=True), "name", "state", "exit", "created", title="sandboxes")
    for r in rows:
        created = time.strftime("%m-%d %H:%M:%S", time.localtime(r["created_at"]))
        code = "" if r["returncode"] is None else str(r["returncode"])
        table.add_row(r["sandbox_id"], r["name"] or "", r["state"], code, created)
    console.print(table)


def _copy(reader: StreamReader, out: TextIO, follow: bool) -> None:
    if follow:
        for line in reader:
            out.write(line)
            out.flush()
        return
    while chunk := reader._fetch(0):
        out.write(chunk.decode("utf-8", errors="replace"))


@sandbox_group.command("logs")
@click.argument("sandbox_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the sandbox ends.")
@friendly_errors
def logs(sandbox_id: str, follow: bool) -> None:
    """Print the output of a sandbox's main command (its stdout, and its stderr to stderr)."""
    sb = Sandbox.from_id(sandbox_id)
    err = threading.Thread(target=_copy, args=(sb.stderr, sys.stderr, follow), daemon=True)
    err.start()
    _copy(sb.stdout, sys.stdout, follow)
    err.join()


@sandbox_group.command("stop")
@click.argument("sandbox_id")
@friendly_errors
def stop(sandbox_id: str) -> None:
    """Terminate a sandbox: every process in it is killed."""
    sb = Sandbox.from_id(sandbox_id)
    sb.terminate()
    info = sb.info()
    console.print(f"[green]✓[/] sandbox {sandbox_id}: {info['state']} ({info['info']})")
