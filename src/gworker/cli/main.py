"""``gw``: the command line."""

from __future__ import annotations

import click

from .advise import advise
from .app import app
from .container import container_group
from .dashboard import dashboard
from .dict import dict_group
from .environment import add_env_options, environment_group
from .image import image_group
from .nfs import nfs_group
from .queue import queue_group
from .run import deploy, run
from .sandbox import sandbox_group
from .secret import secret_group
from .serve import serve
from .server import server
from .shell import shell
from .token import token
from .usage import usage
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
cli.add_command(nfs_group)
cli.add_command(sandbox_group)
cli.add_command(image_group)
cli.add_command(usage)
cli.add_command(advise)
cli.add_command(dashboard)
cli.add_command(shell)
cli.add_command(container_group)
cli.add_command(environment_group)
# the server, tokens, environments and the dashboard belong to no environment, nor does a
# container or sandbox named by its id
add_env_options(
    cli,
    skip={
        "server",
        "token",
        "environment",
        "image",
        "dashboard",
        "container",
        "sandbox logs",
        "sandbox stop",
    },
)
