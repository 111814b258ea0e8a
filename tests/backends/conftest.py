"""A built image with files, for the isolation and limits tests (its own small image cache);
a stand-in NVML for the GPU memory tests."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from gworker.images import BuiltImage, ImageBuilder
from gworker_client._image import Image

ADDED_TEXT = "added to the image\n"
MIB = 1024 * 1024


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """A stand-in pynvml module: device index -> bytes of memory in use (the test may change
    them)."""
    used = {0: 3000 * MIB, 1: 500 * MIB, 2: 7000 * MIB}
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(used=used[h])  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return used


@pytest.fixture(scope="session")
def image_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("image-src")
    (src / "config.json").write_text('{"mode": "test"}')
    (src / "data").mkdir()
    (src / "data" / "notes.txt").write_text(ADDED_TEXT)
    return src


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory, image_sources: Path) -> BuiltImage:
    image = (
        Image.debian_slim()
        .add_local_file(image_sources / "config.json", "/app/config.json")
        .add_local_dir(image_sources / "data", "/data")
        .env({"GW_TEST_IMAGE": "1"})
        .workdir("/app")
    )
    blobs = {sha: Path(p).read_bytes() for sha, p in image.uploads().items()}  # type: ignore[arg-type]
    builder = ImageBuilder(tmp_path_factory.mktemp("images"), blobs.__getitem__)
    return builder.build(image.to_spec())
