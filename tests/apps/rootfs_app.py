"""Functions in images whose build steps write outside any environment, for the rootfs tests."""

import os
from pathlib import Path

import gworker_client as gw

APT_PACKAGE = "sl"  # small, and not installed on the test machines' hosts


def download_weights() -> None:
    Path("/models").mkdir()
    Path("/models/weights.bin").write_bytes(b"\x00weights")
    cache = Path.home() / ".cache" / "hub"
    cache.mkdir(parents=True)
    (cache / "tokenizer.json").write_text('{"vocab": 3}')


image = (
    gw.Image.debian_slim()
    .apt_install(APT_PACKAGE)
    .run_function(download_weights)
    .run_commands("mkdir -p /srv/data && echo from-run-commands > /srv/data/note.txt")
)
app = gw.App("rootfs", image=image)


@app.function()
def inside() -> dict[str, object]:
    return {
        "weights": Path("/models/weights.bin").read_bytes().decode("latin-1"),
        "cache": (Path.home() / ".cache" / "hub" / "tokenizer.json").read_text(),
        "note": Path("/srv/data/note.txt").read_text().strip(),
        "apt": os.path.exists(f"/usr/games/{APT_PACKAGE}"),
        "uid": os.getuid(),
    }
