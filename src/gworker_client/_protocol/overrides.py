"""Option overrides: a variant of a published function or class.

``Function.with_options``, ``Cls.with_options``, ``Cls.with_concurrency`` and
``Cls.with_batching`` send a ``SpecOverrides`` with the bind request; the server applies it to
the parent's stored spec (which holds the resolved image, secrets and volumes the caller does not
have) and serves the result as a function of its own, with its own containers.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from .spec import (
    Batching,
    BucketMount,
    Concurrency,
    FunctionSpec,
    GpuRequest,
    Record,
    RetryPolicy,
    VolumeMount,
)

Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class SpecOverrides(Record, frozen=True):
    """Fields of a ``FunctionSpec`` to replace; ``UNSET`` (left off the wire) keeps the
    parent's. ``batching`` replaces the batching of every batched method (or function)."""

    timeout: Positive | UnsetType = UNSET
    retries: RetryPolicy | UnsetType = UNSET
    cpu: Positive | UnsetType = UNSET
    memory: PositiveInt | UnsetType = UNSET
    cpu_limit: Positive | UnsetType = UNSET
    memory_limit: PositiveInt | UnsetType = UNSET
    min_workers: Count | UnsetType = UNSET
    max_workers: Count | UnsetType = UNSET
    buffer_workers: Count | UnsetType = UNSET
    idle_timeout: Positive | UnsetType = UNSET
    gpu: tuple[GpuRequest, ...] | UnsetType = UNSET
    concurrency: Concurrency | UnsetType = UNSET
    batching: Batching | UnsetType = UNSET
    # with_options(volumes=...): the variant's volumes and bucket mounts, both replaced, as Modal
    volumes: tuple[VolumeMount, ...] | UnsetType = UNSET
    bucket_mounts: tuple[BucketMount, ...] | UnsetType = UNSET

    def given(self) -> dict[str, Any]:
        """The fields that are set, by name."""
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not UNSET
        }

    def stacked(self, later: SpecOverrides) -> SpecOverrides:
        """These overrides with ``later``'s on top (``with_options(...).with_options(...)``)."""
        return msgspec.structs.replace(self, **later.given())


def apply_overrides(spec: FunctionSpec, overrides: SpecOverrides) -> FunctionSpec:
    """``spec`` with ``overrides`` applied; ``ValueError`` says why they cannot apply.

    A variant never fires its parent's schedule: the parent does."""
    changes = overrides.given()
    batching = changes.pop("batching", None)
    if batching is not None:
        batched = [name for name, m in spec.methods.items() if m.batching is not None]
        if not batched and spec.batching is None:
            raise ValueError("with_batching needs a @gw.batched() method, and there is none")
        changes["methods"] = {
            name: msgspec.structs.replace(m, batching=batching) if name in batched else m
            for name, m in spec.methods.items()
        }
        if spec.batching is not None:
            changes["batching"] = batching
    return msgspec.structs.replace(spec, schedule=None, **changes)
