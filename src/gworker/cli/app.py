"""``gw app list|stop|logs``."""

from __future__ import annotations

import time

import click
from rich.table import Table

from gworker_client import _api, _config
from gworker_client._output import write_logs

from ._common import console, friendly_errors


def _resolve(ref: str) -> dict:
    info: dict = _api.resolve_app(ref)
    return info


@click.group()
def app() -> None:
    """List, stop and read the logs of apps."""


@app.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include stopped apps.")
@friendly_errors
def list_apps(show_all: bool) -> None:
    """List the apps of this environment."""
    apps = _api.client().get(f"/v1/apps?env={_config.environment()}")["apps"]
    table = Table("app id", "name", "mode", "state", "functions", "containers", "created")
    schedules = Table("app", "function", "schedule", "next run", title="schedules")
    for a in apps:
        if a["state"] != "running" and not show_all:
            continue
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a["created_at"]))
        table.add_row(
            a["id"],
            a["name"],
            a["mode"],
            a["state"],
            ", ".join(a["functions"]),
            str(a["containers"]),
            created,
        )
        for s in a.get("schedules") or []:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["next_run"]))
            schedules.add_row(a["name"], s["function"], s["schedule"], when)
    console.print(table)
    if schedules.rows:
        console.print(schedules)


@app.command()
@click.argument("name")
@friendly_errors
def history(name: str) -> None:
    """List a deployed app's versions (by name or id); the live one is marked."""
    info = _resolve(name)
    versions = _api.client().get(f"/v1/apps/{info['id']}/history")["versions"]
    table = Table("version", "deployed", "functions", "live", title=f"app {info['name']}")
    for v in reversed(versions):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v["created_at"]))
        live = "[green]● live[/]" if v["live"] else ""
        table.add_row(f"v{v['version']}", when, ", ".join(v["functions"]), live)
    console.print(table)


@app.command()
@click.argument("name")
@click.argument("version", required=False)
@friendly_errors
def rollback(name: str, version: str | None) -> None:
    """Deploy an earlier version of an app again (default: the one before the latest).

    VERSION is a number as `gw app history` shows it, with or without its `v`.
    """
    info = _resolve(name)
    body: dict[str, int] = {}
    if version is not None:
        number = version.removeprefix("v")
        if not number.isdigit():
            raise click.BadParameter(
                f"{version!r} is not a version like 3 or v3", param_hint="VERSION"
            )
        body["version"] = int(number)
    resp = _api.client().post(f"/v1/apps/{info['id']}/rollback", body)
    console.print(
        f"[green]✓[/] app {info['name']} rolled back to v{resp['from_version']}"
        f" (now live as v{resp['version']})"
    )


@app.command()
@click.argument("name")
@friendly_errors
def stop(name: str) -> None:
    """Stop an app (by name or id): its containers exit, its pending inputs fail."""
    info = _resolve(name)
    _api.client().post(f"/v1/apps/{info['id']}/stop")
    console.print(f"[green]✓[/] stopped app {info['name']} ({info['id']})")


@app.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output.")
@friendly_errors
def logs(name: str, follow: bool) -> None:
    """Print an app's container output (by name or id)."""
    info = _resolve(name)
    cursor = 0
    while True:
        rows = _api.client().get(
            f"/v1/apps/{info['id']}/logs?after={cursor}&timeout={25 if follow else 0}", timeout=60
        )["logs"]
        cursor = write_logs(rows, cursor)
        if not rows and not follow:
            return


@app.command()
@click.argument("name")
@friendly_errors
def containers(name: str) -> None:
    """Show an app's containers and their recent probe results (by name or id)."""
    info = _resolve(name)
    data = _api.client().get(f"/v1/apps/{info['id']}/containers")
    # the node column only where containers run on a cluster (the Ray backend)
    on_nodes = any(c.get("node") for c in data["containers"])
    columns = ["container", "function", "params", "state", "inputs", "ready", "gpu", "age"]
    table = Table(*columns, *(["node"] if on_nodes else []))
    for c in data["containers"]:
        params = ", ".join(f"{k}={v!r}" for k, v in c["params"].items())
        table.add_row(
            c["id"],
            c["function"],
            params,
            c["state"],
            str(c["inputs"]),
            "yes" if c["accepting"] else "no",
            c["gpu"] or "",
            f"{c['age_s']:.0f}s",
            *([c.get("node") or ""] if on_nodes else []),
        )
    console.print(table)
    probes = Table("time", "container", "method", "kind", "result", "detail", title="probes")
    for p in data["probes"][-30:]:
        when = time.strftime("%H:%M:%S", time.localtime(p["ts"]))
        result = "[green]ok[/]" if p["ok"] else "[red]failed[/]"
        probes.add_row(when, p["container"], p["method"], p["kind"], result, p["detail"][:60])
    if data["probes"]:
        console.print(probes)
