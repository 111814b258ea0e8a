"""What a function mounts, as its spec carries it to containers: volumes by id (looked up, or
created with ``create_if_missing``, at publish), network file systems by id, bucket mounts by
their settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ._cloud_bucket import CloudBucketMount
from ._protocol import BucketMount, FunctionSpec, NfsMount, VolumeMount
from ._volume import Volume

if TYPE_CHECKING:
    from ._function import Function


def volume_mounts(
    pairs: tuple[tuple[str, Volume | CloudBucketMount], ...],
) -> tuple[tuple[VolumeMount, ...], tuple[BucketMount, ...]]:
    """``volumes=`` (validated ``(path, volume or bucket)`` pairs) as the spec's volume and
    bucket mounts, looking named volumes up (or creating them, with ``create_if_missing``)."""
    volumes = tuple(
        VolumeMount(mount_path=path, volume_id=vol.object_id, name=vol.name)
        for path, vol in pairs
        if isinstance(vol, Volume)
    )
    buckets = tuple(b.to_mount(path) for path, b in pairs if isinstance(b, CloudBucketMount))
    return volumes, buckets


def resolve_mounts(functions: dict[str, Function], specs: dict[str, FunctionSpec]) -> None:
    """Fill each function's spec with its mounts (looking named objects up on the way)."""
    for tag, fn in functions.items():
        volumes, buckets = volume_mounts(fn._options.volumes)
        shared = tuple(
            NfsMount(mount_path=path, nfs_id=nfs.object_id, name=nfs.name)
            for path, nfs in fn._options.network_file_systems
        )
        specs[tag] = msgspec.structs.replace(
            specs[tag], volumes=volumes, network_file_systems=shared, bucket_mounts=buckets
        )
