"""``gw advise app.py [--app NAME]``: ranked advice on an app's cost, latency and reliability."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from gworker_client import _api, _config

from ..advise import advise as advise_app
from ..advise.rules import Observed
from ..usage import PriceError, Prices, load_prices
from ..usage.prices import parse_prices
from ..usage.report import UsageQueryError, parse_span
from ._common import console, friendly_errors


def _observed(app_name: str, env: str, since: str) -> tuple[Observed, Prices]:
    client = _api.client()
    query = urlencode({"app": app_name, "env": env, "since": since})
    seen = client.get(f"/v1/usage/observed?{query}")
    prices = client.get("/v1/usage/prices")
    shared = {k: seen[k] for k in ("window_s", "call_window_s", "mean_start_s")}
    by_tag = {f["function"]: {**f, **shared} for f in seen["functions"]}
    return by_tag, parse_prices(
        {k: prices[k] for k in ("cpu_core_second", "memory_gib_second", "gpu_second")},
        prices["source"],
    )


@click.command()
@click.argument("app_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--app", "app_name", default=None, help="Add what the server observed of this app.")
@click.option("--env", default=None, help="The deployed app's environment.")
@click.option("--since", default=None, help="How much history --app reads (default 7d).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for tools.")
@friendly_errors
def advise(
    app_file: Path, app_name: str | None, env: str | None, since: str, as_json: bool
) -> None:
    """Read an app's code and give concrete, ranked advice on cost, latency and reliability.

    Each item says where, why, what to change and what it is worth, priced with the server's
    price table. With --app NAME it adds what the server observed of that app (usage, calls,
    cold starts).
    """
    for given, flag in ((env, "--env"), (since, "--since")):
        if given is not None and not app_name:
            raise click.BadParameter(
                f"{flag} {given} applies to a deployed app's observations: add --app NAME",
                param_hint=flag,
            )
    since = since or "7d"
    try:
        parse_span(since)
    except UsageQueryError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    if app_file.suffix != ".py":
        raise click.BadParameter(f"{app_file} is not a Python file", param_hint="APP_FILE")
    observed: Observed = {}
    if app_name:
        observed, prices = _observed(app_name, env or _config.environment(), since)
    else:
        try:
            prices = load_prices(_config.gw_home())
        except PriceError as e:
            raise click.ClickException(str(e)) from None
    try:
        found = advise_app(app_file, prices, observed)
    except SyntaxError as e:
        raise click.ClickException(f"{app_file} does not parse: {e}") from None
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(a) for a in found], indent=2))
        return
    if not found:
        console.print(f"[green]✓[/] no advice for {app_file}: it follows every rule gw checks")
        return
    for n, a in enumerate(found, 1):
        _print(n, a)


def _print(n: int, a: Any) -> None:
    console.print(
        f"[bold]{n}. {a.rule}[/] [dim]{a.where}[/]" + (f" ({a.function})" * bool(a.function))
    )
    console.print(f"   why:    {a.why}")
    console.print(f"   change: {a.change}")
    console.print(f"   effect: {a.effect}\n")
