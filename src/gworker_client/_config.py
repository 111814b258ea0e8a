"""Where the SDK finds its control plane and its identity: one place for every setting."""

from __future__ import annotations

import os

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


def environment() -> str:
    return os.environ.get("GW_ENVIRONMENT") or DEFAULT_ENVIRONMENT


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
    "server_info_path",
    "token_path",
    "write_credentials",
]
