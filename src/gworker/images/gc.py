"""Collecting layers: what no image uses goes, and images are dropped, least recently used first,
while the store holds more than its cap.

The cap is ``GW_IMAGE_CACHE_GB`` (default 50 GB) of layer data. Images in use (``keep``: those
of this server's running containers and of builds in progress) and the layers they use are never
removed; an image a later build needs again is rebuilt from what is left (the Debian base is
re-imported by hard links from the machine's cache in a fraction of a second). A sandbox's
filesystem snapshot cannot be rebuilt: it is data, not cache, and stays until ``gw image rm``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from .layers import LayerStore

DEFAULT_CAP_GB = 50.0


@dataclass
class Collected:
    images: list[str] = field(default_factory=list)  # image keys removed
    layers: list[str] = field(default_factory=list)  # layer digests removed
    freed: int = 0  # bytes
    remaining: int = 0  # bytes of layers kept


def cap_bytes() -> int:
    try:
        gb = float(os.environ.get("GW_IMAGE_CACHE_GB") or DEFAULT_CAP_GB)
    except ValueError:
        gb = DEFAULT_CAP_GB
    return int(gb * 1024**3)


def touch(store: LayerStore, key: str) -> None:
    """Mark image ``key`` used now (its record's mtime orders the collection)."""
    try:
        os.utime(store.root / "images" / f"{key}.json")
    except OSError:
        pass


def collect(store: LayerStore, cap: int, keep: Iterable[str] = ()) -> Collected:
    """Remove unused layers, then least recently used images (not in ``keep``) while the layers
    left exceed ``cap`` bytes. ``cap=0`` removes every image not kept
    (snapshots aside)."""
    kept = set(keep)
    done = Collected()
    sizes = {d: store.layer_size(d) for d in store.layers()}
    records = store.images()
    records.sort(key=lambda r: _used(store, r.key))
    used = {d for r in records for d in r.layers}
    done.freed += _drop_layers(store, set(sizes) - used, sizes, done)
    total = sum(size for d, size in sizes.items() if d in used)
    for record in records:
        if total <= cap:
            break
        if record.key in kept or record.origin:
            continue  # in use, or a sandbox's snapshot: nothing could make it again
        store.remove_image(record.key)
        done.images.append(record.key)
        still = {d for r in store.images() for d in r.layers}
        gone = {d for d in record.layers if d not in still}
        freed = _drop_layers(store, gone, sizes, done)
        done.freed += freed
        total -= freed
    done.remaining = total
    return done


def _drop_layers(
    store: LayerStore, digests: set[str], sizes: dict[str, int], done: Collected
) -> int:
    freed = 0
    for digest in sorted(digests):
        store.remove_layer(digest)
        done.layers.append(digest)
        freed += sizes.get(digest, 0)
    return freed


def _used(store: LayerStore, key: str) -> float:
    try:
        return (store.root / "images" / f"{key}.json").stat().st_mtime
    except OSError:
        return time.time()
