"""Where code is running: on the caller's machine or in a container."""

from __future__ import annotations

import os

from . import exception as exc


def is_local() -> bool:
    """True on the caller's machine, False inside a gworker container."""
    return not os.environ.get("GW_CONTAINER_ID")


def interact() -> None:
    """Modal's terminal interactivity for a container: refused, as no terminal reaches one."""
    where = "on the caller's machine" if is_local() else "in this container"
    raise exc.InvalidError(
        f"gw.interact() {where}: gworker attaches no terminal to containers, so input() cannot"
        " reach one. Pass values as function arguments or through a gw.Queue, or run the code"
        " with .local() to use this terminal"
    )
