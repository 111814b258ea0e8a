"""``gw``: the command line."""

from __future__ import annotations

import click

from .app import app
from .dict import dict_group
from .image import image_group
from .queue import queue_group
from .run import deploy, run
from .sandbox import sandbox_group
from .secret import secret_group
from .serve import serve
from .server import server
from .token import token
from .volume import volume_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gworker")
def cli() -> None:
    """gworker: run Python functions in autoscaled containers, on this machine or a cluster.

    With no GW_SERVER_URL set, a local control plane starts in the background under GW_HOME
    (default ~/.gworker) on first use.
    """


cli.add_command(run)
cli.add_command(deploy)
cli.add_command(serve)
cli.add_command(app)
cli.add_command(dict_group)
cli.add_command(queue_group)
cli.add_command(server)
cli.add_command(token)
cli.add_command(secret_group)
cli.add_command(volume_group)
cli.add_command(sandbox_group)
cli.add_command(image_group)
