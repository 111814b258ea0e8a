"""Talking to OCI registries: references, credentials, and skopeo with its errors translated.

    ref = parse_reference("python:3.11-slim")   # docker.io/library/python:3.11-slim
    ref.loopback                                 # plain HTTP is allowed only when True
    Skopeo(ref, credentials, tmp).run("inspect", "--raw", "--config", f"docker://{ref.pinned}")

The only module that runs skopeo. Registries differ in their auth dances (Docker Hub's and GHCR's
bearer tokens, ECR), manifest formats (Docker schema 2, OCI, multi-platform lists), compression
(gzip, zstd) and retries; skopeo (Debian's ``skopeo``) is the maintained implementation of all of
them, so we do not write our own HTTP client. The policy is here: Docker's reference syntax, plain
HTTP only for loopback registries (as Docker allows for localhost), never the host's own registry
logins (``--no-creds`` unless the caller passes a Secret's REGISTRY_USERNAME and
REGISTRY_PASSWORD, given to skopeo in a private auth file, never on a command line), and skopeo's
errors turned into one exception tree whose messages name the fix::

    RegistryError (a BuildError)
      BadReference           not [registry[:port]/]repository[:tag][@sha256:...]
      RegistryUnreachable    wrong host or port, registry down, plain HTTP off loopback, bad TLS
      RegistryUnauthorized   credentials refused, or needed and not given
      ImageNotFound          no such repository or tag
      UnsupportedImage       another architecture, or a layer media type we cannot unpack
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError

SKOPEO_TIMEOUT_S = 1800
DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::\d+)?$")


class RegistryError(BuildError):
    """An image could not be pulled or pushed. Subclasses say why; every message names the fix."""


class BadReference(RegistryError):
    """The image reference is not valid syntax (``[registry/]repository[:tag][@sha256:...]``)."""


class RegistryUnreachable(RegistryError):
    """The registry did not answer: wrong host or port, no network, or a TLS failure."""


class RegistryUnauthorized(RegistryError):
    """The registry refused the credentials, or wants some and none were given."""


class ImageNotFound(RegistryError):
    """The repository or tag does not exist in the registry."""


class UnsupportedImage(RegistryError):
    """The image exists but is for another architecture or uses a media type we cannot unpack."""


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port], "docker.io" for Docker Hub
    repository: str  # "library/python" for Docker Hub's official images
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def pinned(self) -> str:
        """What skopeo is given: the digest alone when there is one (it takes not both)."""
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return str(self)

    @property
    def loopback(self) -> bool:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") else self.registry
        host = host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def parse_reference(ref: str) -> Reference:
    """Parse a reference the way Docker does: ``python`` is ``docker.io/library/python:latest``."""
    hint = " (expected [registry[:port]/]repository[:tag][@sha256:<64 hex>], e.g. python:3.11-slim)"
    if not isinstance(ref, str) or not ref or ref != ref.strip():
        raise BadReference(f"image reference {ref!r} is not valid{hint}")
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST.match(digest):
            raise BadReference(f"image reference {ref!r} has a bad digest {digest!r}{hint}")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
        if not _HOST.match(registry):
            raise BadReference(f"image reference {ref!r} has a bad registry {registry!r}{hint}")
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise BadReference(f"image reference {ref!r} has a bad tag {tag!r}{hint}")
    if not _REPOSITORY.match(path):
        raise BadReference(
            f"image reference {ref!r} has a bad repository {path!r}: lowercase letters, digits"
            f" and separators (. _ - /) only{hint}"
        )
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, path, tag, digest)


def host_architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )


def _check_credentials(credentials: Mapping[str, str] | None) -> tuple[str, str] | None:
    if credentials is None:
        return None
    missing = [k for k in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD") if not credentials.get(k)]
    if missing:
        raise RegistryUnauthorized(
            f"the registry Secret lacks {' and '.join(missing)}: create it with both keys, e.g."
            " gw.Secret.from_dict({'REGISTRY_USERNAME': ..., 'REGISTRY_PASSWORD': ...})"
        )
    return credentials["REGISTRY_USERNAME"], credentials["REGISTRY_PASSWORD"]


class Skopeo:
    """One skopeo session for one reference: TLS policy, credentials and error translation."""

    def __init__(self, ref: Reference, credentials: Mapping[str, str] | None, tmp: Path) -> None:
        self.ref = ref
        self.user_pass = _check_credentials(credentials)
        self.authfile: Path | None = None
        if self.user_pass:
            token = base64.b64encode(":".join(self.user_pass).encode()).decode()
            self.authfile = tmp / "auth.json"
            fd = os.open(self.authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"auths": {ref.registry: {"auth": token}}}, f)

    def _options(self, side: str) -> list[str]:
        """Flags for the registry end of a command (``side`` "" for inspect, "src-"/"dest-")."""
        # A loopback registry may speak plain HTTP (skopeo then tries HTTPS first, then HTTP).
        out = [f"--{side}tls-verify={'false' if self.ref.loopback else 'true'}"]
        if self.authfile:
            out.append(f"--{side}authfile={self.authfile}")
        else:
            out.append(f"--{side}no-creds")  # never the server's own docker login
        return out

    def run(self, *args: str, side: str = "") -> bytes:
        argv = [
            "skopeo",
            "--insecure-policy",  # signature policy is the registry's business, not the host's
            f"--override-arch={host_architecture()}",
            "--override-os=linux",
            *args[:1],
            *self._options(side),
            *args[1:],
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=SKOPEO_TIMEOUT_S)
        except FileNotFoundError:
            raise RegistryError(
                "skopeo is not installed: registry images need it (apt-get install skopeo)"
            ) from None
        except subprocess.TimeoutExpired:
            raise RegistryUnreachable(
                f"registry {self.ref.registry} did not finish within {SKOPEO_TIMEOUT_S} s"
            ) from None
        if proc.returncode != 0:
            raise self._translate(proc.stderr.decode("utf-8", "replace"))
        return proc.stdout

    def _translate(self, stderr: str) -> RegistryError:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "(no output)"
        msg = re.sub(r'^.*?msg="(.*)"\s*$', r"\1", last)
        msg = msg.replace('\\"', '"')
        low = msg.lower()
        ref, reg = self.ref, self.ref.registry
        if "http response to https client" in low:
            return RegistryUnreachable(
                f"registry {reg} speaks plain HTTP, which is allowed only for a registry on"
                f" loopback (localhost, 127.0.0.1, [::1]): serve it over TLS ({msg})"
            )
        if "x509" in low or "certificate" in low or "tls:" in low:
            return RegistryUnreachable(
                f"registry {reg}'s TLS certificate is not trusted: install its CA certificate"
                f" in the system's store (update-ca-certificates) ({msg})"
            )
        if any(
            s in low
            for s in (
                "connection refused",
                "no such host",
                "i/o timeout",
                "network is unreachable",
                "no route to host",
                "dial tcp",
            )
        ):
            return RegistryUnreachable(
                f"registry {reg} cannot be reached: check the host and port in {str(ref)!r}"
                f" and that the registry is running ({msg})"
            )
        if "no image found in" in low and "architecture" in low:
            return UnsupportedImage(
                f"{ref} has no image for linux/{host_architecture()}: pick a tag built for this"
                f" machine's architecture ({msg})"
            )
        if "requested access to the resource is denied" in low:
            return ImageNotFound(
                f"{ref} does not exist, or is private and needs credentials: check the name,"
                " or pass secret= with REGISTRY_USERNAME and REGISTRY_PASSWORD"
            )
        if "unauthorized" in low or "authentication required" in low or " 401" in low:
            if self.user_pass:
                return RegistryUnauthorized(
                    f"registry {reg} refused the credentials of user {self.user_pass[0]!r}:"
                    f" check REGISTRY_USERNAME and REGISTRY_PASSWORD in the Secret ({msg})"
                )
            return RegistryUnauthorized(
                f"registry {reg} needs credentials for {ref.repository}: pass"
                " secret=gw.Secret.from_name(...) holding REGISTRY_USERNAME and"
                f" REGISTRY_PASSWORD ({msg})"
            )
        if "manifest unknown" in low or "name unknown" in low or "not found" in low:
            what = f"tag {ref.tag!r}" if ref.tag and not ref.digest else f"digest {ref.digest}"
            return ImageNotFound(
                f"{what} of repository {ref.repository!r} does not exist in registry {reg}:"
                f" check the name and tag ({msg})"
            )
        return RegistryError(f"skopeo failed for {ref}: {msg}")
