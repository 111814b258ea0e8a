"""``gw dashboard``: open the control plane's web dashboard, logged in."""

from __future__ import annotations

import webbrowser

import click

from gworker_client import _api

from ._common import console, friendly_errors


@click.command()
@click.option("--url", "print_url", is_flag=True, help="Print the login URL instead of opening it.")
@friendly_errors
def dashboard(print_url: bool) -> None:
    """Open the dashboard in a browser, logged in with a one-time link (valid two minutes).

    The link logs the browser in as your token, as Jupyter's token links do; the page itself
    asks for a token when opened without one.
    """
    client = _api.client()
    link = client.post("/v1/dashboard/link", {})["link"]
    url = f"{client.url}/dashboard/#link={link}"
    if print_url:
        click.echo(url)
        return
    if not webbrowser.open(url):
        console.print("no browser could be started here; open this URL (valid two minutes):")
    click.echo(url)
