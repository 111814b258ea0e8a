"""``gw image list|rm|prune``: the built images and their layers on the control plane's machine."""

from __future__ import annotations

import time

import click
from rich.table import Table

from gworker_client import _api

from ._common import console, friendly_errors


@click.group("image")
def image_group() -> None:
    """Manage built images (root filesystems of cached layers)."""


@image_group.command("list")
@friendly_errors
def list_images() -> None:
    """Built images, most recently used first (every build step's image is one)."""
    rows = _api.client().get("/v1/images")["images"]
    table = Table(
        "key", "python", "layers", "size", "last used", "in use", "origin", title="images"
    )
    for row in sorted(rows, key=lambda r: -r["used"]):
        table.add_row(
            row["key"][:12],
            row["python"],
            str(row["layers"]),
            _size(row["size"]),
            _ago(row["used"]),
            "yes" if row["in_use"] else "",
            row.get("origin", "built"),
        )
    console.print(table)


@image_group.command("rm")
@click.argument("key")
@friendly_errors
def remove(key: str) -> None:
    """Remove an image (by the start of its key, or a snapshot's im-... id) and the layers no
    other image uses."""
    out = _api.client().post(f"/v1/images/{key.removeprefix('im-')}/delete")
    console.print(f"removed {out['removed'][:12]}: {out['layers']} layers, {_size(out['freed'])}")


@image_group.command("prune")
@click.option(
    "--all", "everything", is_flag=True, help="Remove every image not in use (snapshots stay)."
)
@click.option("--max-gb", type=float, help="Keep at most this much (default GW_IMAGE_CACHE_GB).")
@friendly_errors
def prune(everything: bool, max_gb: float | None) -> None:
    """Remove unused layers, then least recently used images while over the size cap."""
    body: dict[str, int] = {}
    if everything:
        body["max_bytes"] = 0
    elif max_gb is not None:
        body["max_bytes"] = int(max_gb * 1024**3)
    out = _api.client().post("/v1/images/prune", body)
    console.print(
        f"removed {out['images']} images and {out['layers']} layers ({_size(out['freed'])});"
        f" {_size(out['remaining'])} left"
    )


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _ago(when: float) -> str:
    seconds = max(0, time.time() - when)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"
