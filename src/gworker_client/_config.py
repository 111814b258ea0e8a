"""Where the SDK finds its control plane and its identity: one place for every setting."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from ._protocol.home import (
    Credentials,
    credentials_from_file,
    gw_home,
    server_info_path,
    token_path,
    write_credentials,
)
from ._protocol.timing import LONG_POLL_S

DEFAULT_ENVIRONMENT = "main"
# How long a client keeps retrying a control plane it has reached before (a restart takes a few
# seconds); a server never reached fails at once.
RECONNECT_TIMEOUT_S = 60.0


# The environment set by app.run()/deploy(environment_name=...): per thread and per task, so a
# run in one does not move lookups made concurrently in another.
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "gw_environment", default=None
)


def environment() -> str:
    """The environment apps and named objects are in: ``environment_name=`` of the running
    ``app.run()``/``app.deploy()``, else ``GW_ENVIRONMENT`` (what ``--env`` sets), else main."""
    return _override.get() or os.environ.get("GW_ENVIRONMENT") or DEFAULT_ENVIRONMENT


@contextlib.contextmanager
def using_environment(name: str | None) -> Iterator[None]:
    """``environment()`` is ``name`` inside the block (no change for None)."""
    if name is None:
        yield
        return
    outer = _override.get()
    _override.set(name)
    try:
        yield
    finally:  # set, not reset: ``async with`` may leave the block in another context copy
        _override.set(outer)


def reconnect_timeout() -> float:
    return float(os.environ.get("GW_RECONNECT_TIMEOUT", RECONNECT_TIMEOUT_S))


def credentials_from_env() -> Credentials | None:
    token_id, secret = os.environ.get("GW_TOKEN_ID"), os.environ.get("GW_TOKEN_SECRET")
    if token_id and secret:
        return Credentials(token_id, secret)
    return None


__all__ = [
    "DEFAULT_ENVIRONMENT",
    "LONG_POLL_S",
    "RECONNECT_TIMEOUT_S",
    "Credentials",
    "credentials_from_env",
    "credentials_from_file",
    "environment",
    "gw_home",
    "reconnect_timeout",
    "using_environment",
    "server_info_path",
    "token_path",
    "write_credentials",
]
