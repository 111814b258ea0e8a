"""``gw token new|list|revoke``: API tokens for named users with a role."""

from __future__ import annotations

import datetime
import json

import click
from rich.table import Table

from gworker_client import _api, _config

from ._common import console, friendly_errors

ROLES = ("admin", "developer", "viewer")


@click.group()
def token() -> None:
    """Manage API tokens (admins only): viewers read, developers also run and deploy, admins
    also manage secrets, tokens and environments."""


@token.command()
@click.option("--user", default=None, help="Who the token is for (shown in the audit log).")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="developer",
    show_default=True,
    help="What the token may do.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {token_id, token_secret, ...}.")
@click.option("--save", is_flag=True, help="Also store it in GW_HOME/token.json (mode 0600).")
@click.option(
    "--proxy",
    is_flag=True,
    help="A proxy-auth token for web endpoints with requires_proxy_auth=True, not an API token.",
)
@friendly_errors
def new(user: str | None, role: str, as_json: bool, save: bool, proxy: bool) -> None:
    """Create a new token (for CI: set GW_TOKEN_ID and GW_TOKEN_SECRET).

    With --proxy: a proxy-auth token; send it as the Modal-Key and Modal-Secret headers (or
    Gworker-Key and Gworker-Secret) to web endpoints that require proxy auth.
    """
    if proxy:
        if save or user:
            raise click.UsageError("--save and --user are for API tokens; a --proxy token is not")
        p = _api.client().post("/v1/tokens/proxy")
        if as_json:
            click.echo(json.dumps({"token_id": p["token_id"], "token_secret": p["token_secret"]}))
            return
        click.echo(f"Modal-Key: {p['token_id']}")
        click.echo(f"Modal-Secret: {p['token_secret']}")
        return
    t = _api.client().post("/v1/tokens", {"user": user or "local", "role": role})
    if as_json:
        click.echo(json.dumps(t))
    else:
        click.echo(f"GW_TOKEN_ID={t['token_id']}")
        click.echo(f"GW_TOKEN_SECRET={t['token_secret']}")
    if save:
        path = _config.write_credentials(_config.Credentials(t["token_id"], t["token_secret"]))
        console.print(f"[green]✓[/] saved to {path}")


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
@friendly_errors
def list_tokens(as_json: bool) -> None:
    """List tokens: id, user, role, when created, whether revoked (never their secrets)."""
    rows = _api.client().get("/v1/tokens")["tokens"]
    if as_json:
        click.echo(json.dumps(rows))
        return
    table = Table("token id", "user", "role", "created", "state")
    for r in rows:
        created = datetime.datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M")
        table.add_row(r["token_id"], r["user"], r["role"], created, _state(r))
    console.print(table)


def _state(row: dict[str, object]) -> str:
    return "revoked" if row["revoked"] else "active"


@token.command()
@click.argument("token_id")
@friendly_errors
def revoke(token_id: str) -> None:
    """Revoke a token: requests carrying it are refused from now on."""
    _api.client().post(f"/v1/tokens/{token_id}/revoke")
    console.print(f"[green]✓[/] token {token_id} revoked")
