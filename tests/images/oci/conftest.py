"""Real registries on loopback (Debian's docker-registry), started once per session, and a tiny
busybox-static image built here as overlay-format layers, so nothing leaves the machine."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER, PASSWORD = "ada", "s3cret-pw"


@dataclass(frozen=True)
class Registry:
    address: str  # "127.0.0.1:PORT"
    storage: Path
    credentials: Mapping[str, str] = field(default_factory=dict)  # a registry Secret's keys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(root: Path, htpasswd: Path | None) -> Iterator[Registry]:
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is missing: run scripts/install-system-deps docker-registry"
    port = _free_port()
    storage = root / "storage"
    auth = (
        f"auth:\n  htpasswd:\n    realm: gworker-test\n    path: {htpasswd}\n" if htpasswd else ""
    )
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    with open(root / "registry.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # 401 from the authenticated one: it is up
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((root / "registry.log").read_text()) from None
                time.sleep(0.05)
        creds = {"REGISTRY_USERNAME": USER, "REGISTRY_PASSWORD": PASSWORD} if htpasswd else {}
        yield Registry(f"127.0.0.1:{port}", storage, creds)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return _free_port()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An open registry on loopback (plain HTTP, as Docker allows for loopback)."""
    yield from _start(tmp_path_factory.mktemp("registry"), None)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry that wants USER/PASSWORD (bcrypt htpasswd, made by apache2-utils' htpasswd)."""
    root = tmp_path_factory.mktemp("auth-registry")
    htpasswd = root / "htpasswd"
    line = subprocess.run(
        ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True
    ).stdout
    htpasswd.write_text(line)
    yield from _start(root, htpasswd)


@pytest.fixture(scope="session")
def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("overlay layers need root (whiteouts are device nodes, opaque dirs xattrs)")


@pytest.fixture(scope="session")
def busybox_layers(tmp_path_factory: pytest.TempPathFactory, needs_root: None) -> list[Path]:
    """Two overlay-format layers: a busybox-static root filesystem, then one that deletes
    /etc/motd (whiteout), replaces /etc/conf.d's contents (opaque) and adds a hard link."""
    root = tmp_path_factory.mktemp("busybox-layers")
    base, top = root / "base", root / "top"
    for d in ("bin", "etc/conf.d", "tmp"):
        (base / d).mkdir(parents=True)
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is missing: run scripts/install-system-deps busybox-static"
    shutil.copy2(busybox, base / "bin" / "busybox")
    for applet in ("sh", "ls", "cat"):
        (base / "bin" / applet).symlink_to("busybox")
    (base / "etc" / "motd").write_text("hello from the base\n")
    (base / "etc" / "conf.d" / "old.conf").write_text("old\n")
    os.chmod(base / "tmp", 0o1777)
    os.chown(base / "etc" / "motd", 1234, 5678)
    (top / "etc" / "conf.d").mkdir(parents=True)
    os.mknod(top / "etc" / "motd", 0o020000, os.makedev(0, 0))
    os.setxattr(top / "etc" / "conf.d", "trusted.overlay.opaque", b"y")
    (top / "etc" / "conf.d" / "new.conf").write_text("new\n")
    (top / "data.txt").write_text("data\n")
    os.link(top / "data.txt", top / "data-link.txt")
    return [base, top]
