"""Modal's options about a container's life and sandbox (``max_inputs``,
``single_use_containers``, ``block_network``, ``ephemeral_disk``, ``enable_memory_snapshot``,
``experimental_options``, ``nonpreemptible``), checked at decoration by ``_options``.

How each works: ``FunctionSpec.retire_after`` (the scheduler's queue), ``block_network`` and
``ephemeral_disk`` (``gworker.backends.launch``), snap hooks (``_cls.build_cls``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._cloud_bucket import CloudBucketMount
from ._protocol import MAX_EPHEMERAL_DISK_MIB
from .exception import InvalidError

if TYPE_CHECKING:
    from ._options import FunctionOptions

# experimental_options keys this version acts on (Modal's client passes any key to its server)
EXPERIMENTAL_OPTIONS = ("enable_gpu_snapshot",)


def check_container_options(values: dict[str, Any], d: str) -> None:
    """Modal's options about a container's life and sandboxing, checked and put in the
    canonical fields (``single_use_containers`` becomes ``max_inputs=1``)."""
    for flag in ("single_use_containers", "block_network", "enable_memory_snapshot"):
        _flag(d, flag, values.get(flag, False))
    # gworker never preempts a container: each runs until it is scaled down, retires or stops
    _flag(d, "nonpreemptible", values.pop("nonpreemptible", False))
    single = values.pop("single_use_containers", False)
    if "max_inputs" in values:
        n = values["max_inputs"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidError(
                f"{d}(max_inputs={n!r}): expected an int >= 1, the inputs a container runs"
                " before it retires (max_inputs=1, or single_use_containers=True: one each)"
            )
        if single and n != 1:
            raise InvalidError(
                f"{d}(max_inputs={n}, single_use_containers=True): single-use containers run one"
                " input each; give one of the two"
            )
    elif single:
        values["max_inputs"] = 1
    if "ephemeral_disk" in values:
        mib = values["ephemeral_disk"]
        if isinstance(mib, bool) or not isinstance(mib, int) or mib < 1:
            raise InvalidError(
                f"{d}(ephemeral_disk={mib!r}): expected an int of MiB from 1 to"
                f" {MAX_EPHEMERAL_DISK_MIB}"
            )
        if mib > MAX_EPHEMERAL_DISK_MIB:
            raise InvalidError(
                f"{d}(ephemeral_disk={mib}): at most {MAX_EPHEMERAL_DISK_MIB} MiB (3 TiB)"
            )
    if "experimental_options" in values:
        values["enable_gpu_snapshot"] = _experimental(values.pop("experimental_options"), d)
        if values["enable_gpu_snapshot"] and not values.get("enable_memory_snapshot"):
            raise InvalidError(
                f"{d}(experimental_options={{'enable_gpu_snapshot': True}}): GPU snapshots are"
                " part of memory snapshots; add enable_memory_snapshot=True"
            )


def check_web_options(options: FunctionOptions, name: str) -> None:
    """Options a web endpoint cannot have: its container must be reachable over TCP by the
    gateway, and its requests are not inputs that a container counts."""
    if options.block_network:
        raise InvalidError(
            f"{name}: a web endpoint cannot have block_network=True (the gateway reaches its"
            " container over the network); remove block_network, or serve it from a function"
            " that calls the blocked one"
        )
    if options.max_inputs is not None:
        raise InvalidError(
            f"{name}: a web endpoint cannot have max_inputs={options.max_inputs} (or"
            " single_use_containers=True) in this version of gworker: its requests are not"
            " counted as a container's inputs; remove it, or have the endpoint call a function"
            " that has it"
        )


def _flag(d: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidError(f"{d}({name}={value!r}): expected True or False")


def _experimental(options: Any, d: str) -> bool:
    """``experimental_options={...}``: only ``enable_gpu_snapshot`` is known here."""
    if not isinstance(options, Mapping):
        raise InvalidError(f"{d}(experimental_options={options!r}): expected a dict")
    for key in options:
        if key not in EXPERIMENTAL_OPTIONS:
            raise InvalidError(
                f"{d}(experimental_options={{{key!r}: ...}}) is not supported by this version of"
                f" gworker; known keys: {', '.join(EXPERIMENTAL_OPTIONS)}"
            )
    value = options.get("enable_gpu_snapshot", False)
    _flag(d, "experimental_options['enable_gpu_snapshot']", value)
    return bool(value)


def check_offline_mounts(block_network: bool, volumes: Any, d: str) -> None:
    """A container without a network cannot fill a bucket mount: its runtime downloads the
    objects itself (``_runtime/buckets.py``)."""
    if not block_network:
        return
    for path, mount in volumes:
        if isinstance(mount, CloudBucketMount):
            raise InvalidError(
                f"{d}(block_network=True, volumes={{{path!r}: CloudBucketMount(...)}}): a"
                " container without a network cannot reach the bucket (its runtime downloads"
                " and uploads the objects itself); use a gw.Volume, or remove block_network"
            )
