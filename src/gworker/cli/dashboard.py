"""``gw dashboard``: open the control plane's web dashboard, logged in."""

from __future__ import annotations

import os
import sys
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
    # without a display, webbrowser would run a text browser in this terminal: print instead
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless or not webbrowser.open(url):
        console.print("open this URL in a browser (it logs in once, within two minutes):")
    click.echo(url)
