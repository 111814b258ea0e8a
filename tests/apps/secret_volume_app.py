"""Functions that read their secrets and use a mounted volume.

Secret values never come back as results (those are stored by the server): functions return
their sha256 instead, so tests can also check that no value reaches the server's database.

Until containers are isolated, a volume's mount path (``/data``) is a directory of the
container's own elsewhere on the host: ``host_path`` maps one to the other (and is the identity
once containers see ``/data`` itself).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import gworker_client as gw
from gworker_client._runtime.volumes import host_path

HERE = Path(__file__).parent
NAMED_SECRET = "sv-named"
VOLUME = "sv-data"

vol = gw.Volume.from_name(VOLUME, create_if_missing=True)

app = gw.App(
    "secret-volume",
    secrets=[gw.Secret.from_dict({"SV_APP_LEVEL": "from-the-app", "SV_CLASH": "app"})],
    volumes={"/data": vol},
)


def digest(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def _env(keys: list[str]) -> dict[str, str | None]:
    return {k: digest(os.environ.get(k)) for k in keys}


@app.function(
    secrets=[
        gw.Secret.from_dict({"SV_CLASH": "function", "SV_INLINE": "inline-7f3a9c1e"}),
        gw.Secret.from_local_environ(["SV_LOCAL"]),
        gw.Secret.from_dotenv(HERE / "secret_volume.env"),
        gw.Secret.from_name(NAMED_SECRET, required_keys=["SV_NAMED"]),
    ]
)
def env(keys: list[str]) -> dict[str, str | None]:
    """The sha256 of each variable (None where it is not set)."""
    return _env(keys)


@app.cls(secrets=[gw.Secret.from_dict({"SV_CLS": "class-secret-41d2"})])
class Reader:
    @gw.method()
    def env(self, keys: list[str]) -> dict[str, str | None]:
        return _env(keys)

    @gw.method()
    def read(self, path: str) -> str | None:
        p = Path(host_path(path))
        return p.read_text() if p.exists() else None


def _write(path: str, content: str) -> None:
    p = Path(host_path(path))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(content)


@app.function()
def write(path: str, content: str, commit: bool = True) -> float:
    """Write a file under /data; commit unless told not to (then graceful exit commits)."""
    _write(path, content)
    if commit:
        vol.commit()
    return time.time()


@app.function()
def read(path: str, reload: bool = False) -> str | None:
    if reload:
        vol.reload()
    p = Path(host_path(path))
    return p.read_text() if p.exists() else None


@app.function()
def remove(path: str) -> None:
    os.unlink(host_path(path))
    vol.commit()


def _gated(path: str, content: str, ready: gw.Queue, go: gw.Queue) -> list[str]:
    """Write ``path`` once told to: both writers start from the same version (neither has seen
    the other's file); return what this container saw beside its own file."""
    ready.put(path)
    go.get(timeout=60)
    _write(path, content)
    vol.commit()
    return sorted(os.listdir(os.path.dirname(host_path(path))))


@app.function()
def gated_write_a(path: str, content: str, ready: gw.Queue, go: gw.Queue) -> list[str]:
    return _gated(path, content, ready, go)


@app.function()
def gated_write_b(path: str, content: str, ready: gw.Queue, go: gw.Queue) -> list[str]:
    return _gated(path, content, ready, go)


@app.function()
def read_before_and_after_reload(
    path: str, ready: gw.Queue, go: gw.Queue
) -> tuple[str | None, str | None]:
    """Start, wait until another container committed ``path``, then read it before and after
    ``vol.reload()``."""
    ready.put("reader")
    go.get(timeout=60)
    p = Path(host_path(path))
    before = p.read_text() if p.exists() else None
    vol.reload()
    return before, p.read_text() if p.exists() else None


@app.function()
def commit_symlink_out(path: str) -> str:
    """Try to commit a symlink that points outside the volume; return the error."""
    link = Path(host_path(path))
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("/etc/hostname")
    try:
        vol.commit()
        return "committed"
    except gw.exception.InvalidError as e:
        return str(e)
    finally:
        link.unlink()


@app.function()
def mount_problems() -> list[str]:
    """What commit()/reload() of a volume that is not mounted here say."""
    out = []
    other = gw.Volume.from_name("sv-not-mounted", create_if_missing=True)
    for action in (other.commit, other.reload):
        try:
            action()
        except gw.exception.InvalidError as e:
            out.append(str(e))
    return out
