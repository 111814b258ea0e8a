"""``gw server start|stop|status`` for the local control plane."""

from __future__ import annotations

import os

import click
from rich.table import Table

from gworker import daemon
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
    backend: str | None,
    ray_address: str | None,
    advertise_url: str | None,
) -> None:
    """Start the control plane in the background."""
    home = _config.gw_home()
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
    """Stop the control plane; its containers stop with it."""
    if daemon.stop_server(_config.gw_home()):
        console.print("[green]✓[/] gworker server stopped")
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
