"""Where code is running: on the caller's machine or in a container."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

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


# (call id, input id) of the input this thread or task is running, in a container; a web
# request has a call id its container made up and input id 0 (the server never stores it)
_current: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "gw_current_input", default=None
)


@contextlib.contextmanager
def running_input(call_id: str, input_id: int) -> Iterator[None]:
    """Mark the input (or web request) the code inside the block runs for (the container
    runtime's)."""
    token = _current.set((call_id, input_id))
    try:
        yield
    finally:
        _current.reset(token)


@contextlib.contextmanager
def several_inputs() -> Iterator[None]:
    """A block that runs for several inputs at once (a batch): no one current input."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def current_function_call_id() -> str | None:
    """The id of the function call whose input is running here (``FunctionCall.object_id``);
    None outside a container's input (and inside a ``@batched`` method, which runs several)."""
    current = _current.get()
    return current[0] if current and current[0] else None


def current_input_id() -> str | None:
    """The id of the input running here; None outside a container's input (and in a
    ``@batched`` method)."""
    current = _current.get()
    if not current:
        return None
    return f"in-{current[1]}" if current[1] else f"in-{current[0]}"


def parent_input() -> dict[str, str | int] | None:
    """What a call made here names as its parent (``FunctionCall.get_call_graph``): the input
    or web request running in this thread or task, in a container; None elsewhere."""
    current = _current.get()
    if not current or not current[0] or is_local():
        return None
    return {"call_id": current[0], "input_id": current[1]}
