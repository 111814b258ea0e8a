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


def current_function_call_id() -> str:
    """Modal's id of the call the running input belongs to: refused, as this version's
    containers are not told which call each input belongs to."""
    raise exc.InvalidError(
        "gw.current_function_call_id() is not supported by this version of gworker: containers"
        " are not told which call an input belongs to. Pass an id as an argument instead"
    )


def current_input_id() -> str:
    """Modal's id of the running input: refused, as with ``current_function_call_id``."""
    raise exc.InvalidError(
        "gw.current_input_id() is not supported by this version of gworker: containers are not"
        " told input ids. Pass an id as an argument instead"
    )
