"""Where the SDK finds its control plane and its identity: one place for every setting."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENVIRONMENT = "main"
# How long a client keeps retrying a control plane it has reached before (a restart takes a few
# seconds); a server never reached fails at once.
RECONNECT_TIMEOUT_S = 60.0
# A long-poll asks the server to hold the request this long at most.
LONG_POLL_S = 25.0


def gw_home() -> Path:
    return Path(os.environ.get("GW_HOME") or Path.home() / ".gworker").expanduser()


def environment() -> str:
    return os.environ.get("GW_ENVIRONMENT") or DEFAULT_ENVIRONMENT


def reconnect_timeout() -> float:
    return float(os.environ.get("GW_RECONNECT_TIMEOUT", RECONNECT_TIMEOUT_S))


@dataclass(frozen=True)
class Credentials:
    token_id: str
    token_secret: str

    @property
    def header(self) -> str:
        return f"Bearer {self.token_id}:{self.token_secret}"


def token_path(home: Path | None = None) -> Path:
    return (home or gw_home()) / "token.json"


def server_info_path(home: Path | None = None) -> Path:
    return (home or gw_home()) / "server.json"


def credentials_from_env() -> Credentials | None:
    token_id, secret = os.environ.get("GW_TOKEN_ID"), os.environ.get("GW_TOKEN_SECRET")
    if token_id and secret:
        return Credentials(token_id, secret)
    return None


def credentials_from_file(home: Path | None = None) -> Credentials | None:
    path = token_path(home)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Credentials(data["token_id"], data["token_secret"])


def write_credentials(creds: Credentials, home: Path | None = None) -> Path:
    path = token_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"token_id": creds.token_id, "token_secret": creds.token_secret}, f)
    os.chmod(path, 0o600)
    return path
