"""One image builder per test session, so that uv's cache makes every build after the first fast."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gworker import isolation
from gworker.images import BuiltImage, ImageBuilder
from gworker_client._image import Image


@dataclass
class Builds:
    builder: ImageBuilder
    blobs: dict[str, bytes] = field(default_factory=dict)

    def fetch(self, sha256: str) -> bytes:
        return self.blobs[sha256]

    def build(self, image: Image) -> tuple[BuiltImage, list[str]]:
        """Upload the image's blobs (as the SDK will), build it, return it with its log."""
        for sha, blob in image.uploads().items():
            self.blobs[sha] = blob.read_bytes() if isinstance(blob, Path) else blob
        log: list[str] = []
        return self.builder.build(image.to_spec(), log=log.append), log


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> Builds:
    b = Builds(builder=None)  # type: ignore[arg-type]
    b.builder = ImageBuilder(tmp_path_factory.mktemp("images"), b.fetch, uv_cache=uv_cache)
    return b


def _run_python(image: BuiltImage, code: str) -> subprocess.CompletedProcess[str]:
    rootfs = image.rootfs()
    argv: Sequence[str] = [image.python, "-c", code]
    argv = isolation.command(image, argv, root=rootfs.merged)
    return subprocess.run(
        argv,
        env=image.environ(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=rootfs.mount_in_child,
    )


@pytest.fixture(scope="session")
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run code with an image's interpreter in its root filesystem."""
    return _run_python
