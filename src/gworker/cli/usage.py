"""``gw usage``: what apps used and cost, from the control plane's usage records."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import click
from rich.table import Table

from gworker_client import _api
from gworker_client._protocol.usage import GROUPINGS

from ..usage.report import UsageQueryError, parse_span
from ._common import console, friendly_errors


@click.command()
@click.option("--app", "app_name", default=None, help="Only this app (by name).")
@click.option(
    "--env",
    "-e",
    default=None,
    help="Only this environment (default: all of them; GW_ENVIRONMENT does not apply here).",
)
@click.option("--since", default="24h", show_default=True, help="How far back: 90m, 24h, 7d.")
@click.option("--by", type=click.Choice(GROUPINGS), default="app", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of a table.")
@friendly_errors
def usage(app_name: str | None, env: str | None, since: str, by: str, as_json: bool) -> None:
    """Show CPU, memory and GPU usage and its cost, by app, function, GPU, day or token.

    Costs use the server's price table: Modal's published prices unless GW_HOME/prices.json
    (`gw server start --prices FILE`) sets your own.
    """
    try:
        parse_span(since)
    except UsageQueryError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    query = {"since": since, "by": by, **({"app": app_name} if app_name else {})}
    if env:
        query["env"] = env
    report = _api.client().get("/v1/usage?" + urlencode(query))
    if as_json:
        click.echo(json.dumps(report["rows"], indent=2))
        return
    start = time.strftime("%Y-%m-%d %H:%M", time.localtime(report["since"]))
    if not report["rows"]:
        console.print(f"no usage recorded since {start} (environment: {env or 'all'})")
        return
    table = Table(
        *_columns(by),
        "containers",
        "cpu core·s",
        "mem GiB·s",
        "gpu·s",
        "cost (USD)",
        title=f"usage since {start}, by {by}",
        caption=f"prices: {report['prices']['source']}",
    )
    for r in report["rows"]:
        table.add_row(
            *_cells(r, by),
            str(r["containers"]),
            f"{r['cpu_seconds']:.1f}",
            f"{r['memory_gib_seconds']:.1f}",
            f"{r['gpu_seconds']:.1f}",
            f"${r['cost_usd']:.4f}",
        )
    table.add_section()
    table.add_row(*[""] * len(_columns(by)), "", "", "", "total", f"${report['total_usd']:.4f}")
    console.print(table)


def _columns(by: str) -> tuple[str, ...]:
    return {
        "app": ("app", "env", "gpu"),
        "function": ("app", "function", "gpu"),
        "gpu": ("gpu",),
        "day": ("day (UTC)",),
        "token": ("token",),
    }[by]


def _cells(r: dict, by: str) -> tuple[str, ...]:
    gpu = r["gpu_type"] or "-"
    return {
        "app": (r["app"], r["environment"], gpu),
        "function": (r["app"], r["function"], gpu),
        "gpu": (gpu if r["gpu_type"] else "none (CPU only)",),
        "day": (r["day"],),
        "token": (r["token_id"] or "-",),
    }[by]
