"""``gw token new``."""

from __future__ import annotations

import click

from gworker_client import _api, _config

from ._common import console, friendly_errors


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command()
@click.option("--save", is_flag=True, help="Also store it in GW_HOME/token.json (mode 0600).")
@click.option(
    "--proxy",
    is_flag=True,
    help="A proxy-auth token for web endpoints with requires_proxy_auth=True, not an API token.",
)
@friendly_errors
def new(save: bool, proxy: bool) -> None:
    """Create a new token (for CI: set GW_TOKEN_ID and GW_TOKEN_SECRET).

    With --proxy: a proxy-auth token; send it as the Modal-Key and Modal-Secret headers (or
    Gworker-Key and Gworker-Secret) to web endpoints that require proxy auth.
    """
    if proxy:
        if save:
            raise click.UsageError("--save stores API tokens; a --proxy token is sent in headers")
        p = _api.client().post("/v1/tokens/proxy")
        click.echo(f"Modal-Key: {p['token_id']}")
        click.echo(f"Modal-Secret: {p['token_secret']}")
        return
    t = _api.client().post("/v1/tokens")
    click.echo(f"GW_TOKEN_ID={t['token_id']}")
    click.echo(f"GW_TOKEN_SECRET={t['token_secret']}")
    if save:
        path = _config.write_credentials(_config.Credentials(t["token_id"], t["token_secret"]))
        console.print(f"[green]✓[/] saved to {path}")
