"""Publishing an app's images: upload their local files, build each distinct image once on the
server, and show the build log as it streams (long-polled), before any function is published."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import _api, _config, _output
from . import exception as exc
from ._image import Image


def _upload(client: _api.Client, image: Image) -> None:
    for digest, blob in image.uploads().items():
        client.ensure_blob(digest, blob.read_bytes if isinstance(blob, Path) else blob)


def _build(client: _api.Client, app_id: str, image: Image) -> dict[str, Any]:
    spec = image.to_spec()
    cursor = 0
    while True:
        resp = client.post(
            "/v1/images/build",
            {"spec": spec, "app_id": app_id, "after": cursor, "timeout": _config.LONG_POLL_S},
            timeout=_config.LONG_POLL_S + 30,
        )
        cursor = resp["cursor"]
        if _output.is_enabled():
            for line in resp["lines"]:
                sys.stderr.write(line + "\n")
        if resp["status"] == "failed":
            raise exc.InvalidError(f"the image {image!r} failed to build:\n{resp['error']}")
        if resp["status"] == "ready":
            return spec


def build_images(client: _api.Client, app_id: str, images: dict[str, Image]) -> dict[str, Any]:
    """Build the images functions use (``tag -> Image``); return ``tag -> image spec``."""
    specs: dict[str, dict[str, Any]] = {}
    for image in images.values():
        if image.digest not in specs:
            _upload(client, image)
            specs[image.digest] = _build(client, app_id, image)
    return {tag: specs[image.digest] for tag, image in images.items()}
