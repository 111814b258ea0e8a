"""The files in ``GW_HOME`` that the local control plane writes and the SDK reads: the local
user's token and the running server's address."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def gw_home() -> Path:
    return Path(os.environ.get("GW_HOME") or Path.home() / ".gworker").expanduser()


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


def credentials_from_file(home: Path | None = None) -> Credentials | None:
    path = token_path(home)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Credentials(data["token_id"], data["token_secret"])


def write_credentials(creds: Credentials, home: Path | None = None) -> Path:
    """Write the token file, readable by its owner only."""
    path = token_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"token_id": creds.token_id, "token_secret": creds.token_secret}, f)
    os.chmod(path, 0o600)
    return path
