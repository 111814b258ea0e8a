"""A built image with files, for the isolation and limits tests (its own small image cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gworker.images import BuiltImage, ImageBuilder
from gworker_client._image import Image

ADDED_TEXT = "added to the image\n"


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
