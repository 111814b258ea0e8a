"""Image references as Docker reads them, and the TLS and credentials policy for registries."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from gworker.images import oci, registry


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("python", ("docker.io", "library/python", "latest", None)),
        ("python:3.11-slim", ("docker.io", "library/python", "3.11-slim", None)),
        ("me/app:v1", ("docker.io", "me/app", "v1", None)),
        ("ghcr.io/org/app", ("ghcr.io", "org/app", "latest", None)),
        ("index.docker.io/python", ("docker.io", "library/python", "latest", None)),
        ("localhost:5000/a/b:c", ("localhost:5000", "a/b", "c", None)),
        ("localhost/a", ("localhost", "a", "latest", None)),
        ("[::1]:5000/a", ("[::1]:5000", "a", "latest", None)),
        ("nvcr.io/nvidia/cuda:12.4.1-devel-ubuntu22.04",
         ("nvcr.io", "nvidia/cuda", "12.4.1-devel-ubuntu22.04", None)),
        ("a@sha256:" + "f" * 64, ("docker.io", "library/a", None, "sha256:" + "f" * 64)),
    ],
)  # fmt: skip
def test_parse_reference(ref: str, expected: tuple[str, str, str | None, str | None]) -> None:
    parsed = oci.parse_reference(ref)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == expected
    assert oci.parse_reference(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "not valid"),
        (" python", "not valid"),
        ("Python", "bad repository 'Python'"),
        ("python:", "bad tag ''"),
        ("python:täg", "bad tag"),
        ("python:a/b", "bad registry 'python:a'"),
        ("python@sha256:abc", "bad digest"),
        ("a//b", "bad repository"),
        ("bad_host.io:x/a", "bad registry"),
    ],
)
def test_bad_references_name_the_part(ref: str, message: str) -> None:
    with pytest.raises(oci.BadReference, match=message):
        oci.parse_reference(ref)


@pytest.mark.parametrize(
    ("ref", "loopback"),
    [
        ("localhost:5000/a", True),
        ("127.0.0.1:5000/a", True),
        ("127.3.2.1/a", True),
        ("[::1]:5000/a", True),
        ("10.0.0.1:5000/a", False),
        ("registry.example.com/a", False),
        ("python", False),
    ],
)
def test_plain_http_only_for_loopback(ref: str, loopback: bool) -> None:
    assert oci.parse_reference(ref).loopback is loopback


def test_tls_and_credentials_policy(tmp_path: Path) -> None:
    remote = registry.Skopeo(oci.parse_reference("registry.example.com/a"), None, tmp_path)
    assert remote._options("src-") == ["--src-tls-verify=true", "--src-no-creds"]
    local = registry.Skopeo(oci.parse_reference("localhost:5000/a"), None, tmp_path)
    assert local._options("") == ["--tls-verify=false", "--no-creds"]
    creds = {"REGISTRY_USERNAME": "u", "REGISTRY_PASSWORD": "pw-not-on-argv"}
    private = registry.Skopeo(oci.parse_reference("ghcr.io/a/b"), creds, tmp_path)
    options = private._options("dest-")
    assert options == ["--dest-tls-verify=true", f"--dest-authfile={tmp_path / 'auth.json'}"]
    assert "pw-not-on-argv" not in " ".join(options)
    assert stat.S_IMODE(os.stat(tmp_path / "auth.json").st_mode) == 0o600
    auths = json.loads((tmp_path / "auth.json").read_text())["auths"]
    assert base64.b64decode(auths["ghcr.io"]["auth"]) == b"u:pw-not-on-argv"


def test_a_malformed_image_config_is_refused_clearly() -> None:
    with pytest.raises(oci.UnsupportedImage, match="malformed Env"):
        oci.OciConfig.from_oci({"config": {"Env": "A=1"}})
    with pytest.raises(oci.UnsupportedImage, match="malformed WorkingDir"):
        oci.OciConfig.from_oci({"config": {"WorkingDir": 3}})
    with pytest.raises(oci.UnsupportedImage, match="config section is malformed"):
        oci.OciConfig.from_oci({"config": "x"})
    assert oci.OciConfig.from_oci({"config": None}) == oci.OciConfig()
