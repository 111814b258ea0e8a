"""``gw server start|stop|status`` for the local control plane."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click
from rich.table import Table

from gworker import daemon
from gworker.usage import PriceError, prices_path
from gworker.usage.prices import read_price_file
from gworker_client import _api, _config

from ._common import console, friendly_errors


@click.group()
def server() -> None:
    """Manage the local control plane (state and logs under GW_HOME)."""


@server.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface, for Ray nodes on other machines).",
)
@click.option("--port", type=int, default=None, help="Port (default: the last one, else any).")
@click.option(
    "--prices",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A JSON price table for `gw usage` (installed as GW_HOME/prices.json).",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where containers run: this machine, or a Ray cluster [env GW_BACKEND; default local].",
)
@click.option(
    "--ray-address",
    default=None,
    help="The Ray cluster to join, host:port of its head [env GW_RAY_ADDRESS; default auto].",
)
@click.option(
    "--advertise-url",
    default=None,
    help="The URL containers on other machines reach this server at"
    " [env GW_ADVERTISE_URL; default http://<this machine's address>:<port>].",
)
@friendly_errors
def start(
    host: str,
    port: int | None,
    prices: Path | None,
    backend: str | None,
    ray_address: str | None,
    advertise_url: str | None,
) -> None:
    """Start the control plane in the background."""
    home = _config.gw_home()
    if prices is not None:
        try:
            read_price_file(prices)
        except PriceError as e:
            raise click.BadParameter(str(e), param_hint="--prices") from None
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(prices, prices_path(home))  # read at each request: applies at once
        console.print(f"[green]✓[/] prices from {prices} installed as {prices_path(home)}")
    was_running = daemon.server_info(home)
    settings = backend_settings(backend, ray_address, advertise_url)
    if was_running and settings:
        raise click.ClickException(
            f"a gworker server is already running at {was_running['url']}; stop it"
            " (`gw server stop`) to start one with other settings"
        )
    info = daemon.start_server(home, host, port, settings)
    verb = "already running" if was_running else "started"
    console.print(f"[green]✓[/] gworker server {verb} at {info['url']} (pid {info['pid']})")


def backend_settings(
    backend: str | None, ray_address: str | None, advertise_url: str | None
) -> dict[str, str]:
    """The spawned server's environment for these options (the environment's own values stand
    where an option is not given)."""
    kind = backend or os.environ.get("GW_BACKEND") or "local"
    if kind not in ("local", "ray"):
        raise click.ClickException(f"GW_BACKEND={kind!r}: the backend is one of local, ray")
    if ray_address and kind != "ray":
        raise click.ClickException("--ray-address is for --backend ray")
    if kind == "ray":
        from gworker.backends.ray import INSTALL_HINT, ray_installed

        if not ray_installed():
            raise click.ClickException(INSTALL_HINT)
    given = {"GW_BACKEND": backend, "GW_RAY_ADDRESS": ray_address}
    given["GW_ADVERTISE_URL"] = advertise_url
    return {k: v for k, v in given.items() if v}


@server.command()
@friendly_errors
def stop() -> None:
    """Stop the control plane; its containers stop with it (their exit hooks run first)."""
    outcome = daemon.stop_server(_config.gw_home())
    if outcome == "stopped":
        console.print("[green]✓[/] gworker server stopped")
    elif outcome == "killed":
        console.print("[yellow]![/] gworker server did not stop in time and was killed")
    else:
        console.print("no gworker server is running")


@server.command()
@friendly_errors
def status() -> None:
    """Show where the control plane runs and what it holds."""
    home = _config.gw_home()
    url = os.environ.get("GW_SERVER_URL")
    if not url and daemon.server_info(home) is None:
        console.print(
            f"no gworker server is running (GW_HOME={home}); start one with `gw server start`"
        )
        raise SystemExit(1)
    s = _api.client().get("/v1/status")
    b = s["backend"]
    table = Table(show_header=False, title="gworker server")
    table.add_row("url", _api.client().url)
    table.add_row("pid", str(s["pid"]))
    table.add_row("GW_HOME", s["home"])
    table.add_row("uptime", f"{s['uptime_s']:.0f}s")
    table.add_row("backend", b["name"])
    table.add_row("containers", str(s["containers"]))
    table.add_row("backlog", str(s["backlog"]))
    table.add_row("cpu reserved", f"{b['cpu_reserved']:g} / {b['cpu_capacity']:g}")
    table.add_row("memory reserved", f"{b['memory_reserved_mib']} / {b['memory_capacity_mib']} MiB")
    if b["name"] == "ray":
        _ray_rows(table, b)
        console.print(table)
        return
    iso, lim = b["isolation"], b["limits"]
    isolation = iso["mechanism"] if not iso["problem"] else f"none: {iso['problem']}"
    table.add_row("isolation", isolation)
    table.add_row("limits", f"{lim['mechanism']}: {lim.get('memory', '')}")
    table.add_row("gpu inventory", b["gpu_source"])
    for gpu in b["gpus"]:
        holder = gpu["container"] or "free"
        table.add_row(f"  gpu {gpu['index']}", f"{gpu['type']} ({gpu['name']}): {holder}")
    console.print(table)


@server.command()
@click.option("--after", type=int, default=0, help="Only entries after this sequence number.")
@click.option("--limit", type=int, default=1000, show_default=True)
@click.option(
    "--refused", is_flag=True, help="Only requests refused for their token, role or scope."
)
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON lines.")
@friendly_errors
def audit(after: int, limit: int, refused: bool, as_json: bool) -> None:
    """Print the audit log: every mutating request and every refused one, who sent it (and
    with which token, from where), when, and its status."""
    query = f"after={after}&limit={limit}" + ("&refused=1" if refused else "")
    entries = _api.client().get(f"/v1/audit?{query}")["entries"]
    if as_json:
        for e in entries:
            click.echo(json.dumps(e))
        return
    table = Table("seq", "time (UTC)", "who", "role", "token", "from", "request", "status")
    for e in entries:
        request = f"{e['method']} {e['path']}"
        table.add_row(
            str(e["seq"]),
            e["time"][:19],
            e["who"],
            e["role"],
            e.get("token_id", ""),
            e.get("remote", ""),
            request,
            str(e["status"]),
        )
    console.print(table)


@server.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@friendly_errors
def backup(path: Path) -> None:
    """Back up GW_HOME's state into PATH while the server runs (SQLite snapshot + blobs)."""
    from gworker import backup as backups

    summary = backups.backup(_config.gw_home(), path)
    console.print(
        f"[green]✓[/] backed up to {path}: state.db {summary['db_bytes']} bytes,"
        f" {summary['blobs_copied']} new blobs"
    )


@server.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@friendly_errors
def restore(path: Path) -> None:
    """Restore GW_HOME's state from a backup at PATH (stop the server first)."""
    from gworker import backup as backups

    aside = backups.restore(path, _config.gw_home())
    moved = f"; the state it replaced is in {aside}" if aside else ""
    console.print(f"[green]✓[/] restored {path} into {_config.gw_home()}{moved}")


def _ray_rows(table: Table, b: dict) -> None:  # type: ignore[type-arg]
    """The Ray cluster's nodes and what each declares."""
    table.add_row("ray cluster", f"{b['address']} (placement: {b['placement']})")
    for n in b["nodes"]:
        gpus = f", {n['gpu_count']}x {n['gpu_type']}" if n["gpu_count"] else ""
        state = "" if n["alive"] else " (dead)"
        table.add_row(
            f"  node {n['ip']}{state}",
            f"cpu {n['cpu']:g}, memory {n['memory_mib']} MiB{gpus}; {n['containers']} container(s)",
        )
