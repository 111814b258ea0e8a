"""``@app.function(...)`` keyword arguments, validated once at decoration into a frozen object.

Everything downstream (the server's scheduler, the container runtime) reads this one object's
``to_spec()`` (a ``FunctionSpec`` record) and never sees raw keyword arguments.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import PurePath, PurePosixPath
from typing import Any, TypeVar

from ._cloud_bucket import CloudBucketMount, bucket_secrets
from ._container_options import check_container_options, check_offline_mounts
from ._gpu import parse_gpu
from ._image import Image
from ._network_file_system import NetworkFileSystem
from ._partial import Concurrency
from ._protocol import MAX_TIMEOUT_S, FunctionSpec, GpuRequest
from ._retries import Retries, to_retries
from ._schedule import Schedule
from ._secret import Secret
from ._volume import Volume
from .exception import InvalidError

DEFAULT_TIMEOUT_S = 300
DEFAULT_IDLE_TIMEOUT_S = 60
DEFAULT_MAX_WORKERS = 100
DEFAULT_CPU = 0.125
DEFAULT_MEMORY_MIB = 128

# Modal's spellings and the seed's, mapped onto one canonical name.
ALIASES = {
    "min_containers": "min_workers",
    "keep_warm": "min_workers",
    "max_containers": "max_workers",
    "concurrency_limit": "max_workers",
    "buffer_containers": "buffer_workers",
    "scaledown_window": "idle_timeout",
    "container_idle_timeout": "idle_timeout",
    "allow_concurrent_inputs": "concurrency",
}
# How a function's containers live and are sandboxed: the decorator's alone (Modal's with_options
# does not take them either).
CONTAINER_LIFE = (
    "max_inputs",
    "single_use_containers",
    "block_network",
    "ephemeral_disk",
    "enable_memory_snapshot",
    "experimental_options",
    "nonpreemptible",
)
CANONICAL = (
    "name",
    "timeout",
    "retries",
    "cpu",
    "memory",
    "min_workers",
    "max_workers",
    "buffer_workers",
    "idle_timeout",
    "gpu",
    "concurrency",
    "image",
    "secrets",
    "volumes",
    "network_file_systems",
    "schedule",
    "include_source",
    "restrict_modal_access",
    *CONTAINER_LIFE,
)
# Options a user of Modal may pass that this version does not implement yet: refused, never
# silently ignored.
NOT_YET = {
    "cloud": "cloud selection",
    "region": "region selection",
    "proxy": "proxies",
    "i6pn": "private networking",
    "serialized": (
        "serialized functions: containers import the function's module instead, running its top"
        " level, so keep side effects such as app.deploy() under `if __name__ == '__main__':`"
    ),
    "rdma": "rdma",
}


# Options Modal itself removed, and what replaces them: named, so old code learns the new way.
REPLACED = {
    "mounts": (
        "was removed in Modal 1.0: add local files to the image instead, with"
        " Image.add_local_dir(), add_local_file() or add_local_python_source()"
    ),
}


@dataclass(frozen=True)
class FunctionOptions:
    name: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    retries: Retries | None = None
    # unset: a reservation of DEFAULT_CPU / DEFAULT_MEMORY_MIB only; set: also an enforced limit
    cpu: float | None = None
    memory: int | None = None
    min_workers: int = 0
    max_workers: int = DEFAULT_MAX_WORKERS
    buffer_workers: int = 0
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S
    gpu: tuple[GpuRequest, ...] | None = None
    concurrency: Concurrency | None = None
    secrets: tuple[Secret, ...] = ()
    # (mount path, volume or bucket mount), sorted by path
    volumes: tuple[tuple[str, Volume | CloudBucketMount], ...] = ()
    # (mount path, network file system), sorted by path
    network_file_systems: tuple[tuple[str, NetworkFileSystem], ...] = ()
    image: Image | None = None
    schedule: Schedule | None = None
    # False: containers import the function's module from its image, not from the code bundle
    include_source: bool | None = None
    # its containers' tokens reach only their own app's calls and objects (server/scope.py)
    restrict_modal_access: bool = False
    # a container retires after running this many inputs (Modal's max_inputs, or 1 for
    # single_use_containers=True); None: it serves inputs until it is scaled down
    max_inputs: int | None = None
    # its containers get a network namespace of their own with only loopback (isolation.py)
    block_network: bool = False
    # MiB of writable space in its containers' root filesystem (launch.py)
    ephemeral_disk: int | None = None
    # no snapshot is taken: every container start runs the snap=True enter hooks, then the
    # others (_cls.build_cls orders them)
    enable_memory_snapshot: bool = False
    enable_gpu_snapshot: bool = False

    def to_spec(self) -> FunctionSpec:
        """The function's spec before publish: its secrets and volumes are resolved (and its
        image built) by ``App._publish``, which fills them in."""
        return FunctionSpec(
            timeout=float(self.timeout),
            retries=self.retries.to_record() if self.retries else None,
            cpu=float(self.cpu or DEFAULT_CPU),
            memory=self.memory or DEFAULT_MEMORY_MIB,
            cpu_limit=float(self.cpu) if self.cpu is not None else None,
            memory_limit=self.memory,
            min_workers=self.min_workers,
            max_workers=self.max_workers,
            buffer_workers=self.buffer_workers,
            idle_timeout=float(self.idle_timeout),
            gpu=self.gpu or None,
            concurrency=self.concurrency.to_record() if self.concurrency else None,
            schedule=self.schedule.to_spec() if self.schedule else None,
            include_source=self.include_source is not False,
            restrict_modal_access=self.restrict_modal_access,
            retire_after=self.max_inputs,
            block_network=self.block_network,
            ephemeral_disk=self.ephemeral_disk,
        )


def parse_options(kwargs: dict[str, Any], *, decorator: str = "@app.function") -> FunctionOptions:
    """Validate the decorator's keyword arguments; raise InvalidError naming the bad one."""
    values: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in NOT_YET:
            if value is None or value in ((), [], {}):
                continue
            raise InvalidError(
                f"{decorator}({key}=...) is not supported by this version of gworker yet"
                f" ({NOT_YET[key]}); remove it to run without it."
            )
        if key in REPLACED:
            raise InvalidError(f"{decorator}({key}=...) {REPLACED[key]}")
        canonical = ALIASES.get(key, key)
        if canonical not in CANONICAL or key == "concurrency":
            known = sorted(set(CANONICAL) | set(ALIASES) | set(NOT_YET))
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidError(f"{decorator}() got an unknown keyword argument {key!r}.{hint}")
        if canonical in values and value is not None:
            raise InvalidError(f"{decorator}() got {canonical!r} twice (as {key!r})")
        if value is not None:
            values[canonical] = value
    check_container_options(values, decorator)
    if "retries" in values:
        values["retries"] = to_retries(values["retries"])
    if "gpu" in values:
        values["gpu"] = tuple(parse_gpu(values["gpu"]) or ())
    if "concurrency" in values:
        n = values["concurrency"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidError(f"{decorator}(allow_concurrent_inputs={n!r}): expected an int >= 1")
        values["concurrency"] = Concurrency(n, n)
    if "secrets" in values:
        values["secrets"] = check_secrets(values["secrets"], decorator)
    if "volumes" in values:
        values["volumes"] = check_volumes(values["volumes"], decorator)
        values["secrets"] = (
            *values.get("secrets", ()),
            *bucket_secrets(values["volumes"], decorator),
        )
    if "network_file_systems" in values:
        values["network_file_systems"] = check_mounts(
            values["network_file_systems"], decorator, "network_file_systems", NetworkFileSystem
        )
        check_apart(values.get("volumes", ()), values["network_file_systems"], decorator)
    if "include_source" in values:
        values["include_source"] = check_include_source(values["include_source"], decorator)
    if not isinstance(values.get("restrict_modal_access", False), bool):
        raise InvalidError(
            f"{decorator}(restrict_modal_access={values['restrict_modal_access']!r}):"
            " expected True or False"
        )
    if "image" in values and not isinstance(values["image"], Image):
        raise InvalidError(
            f"{decorator}(image={values['image']!r}): expected a gw.Image, e.g."
            " gw.Image.debian_slim().pip_install(...)"
        )
    if "schedule" in values and decorator != "@app.function":
        raise InvalidError(
            f"{decorator}(schedule=...): schedules run functions; put schedule= on an"
            " @app.function() that calls the class's method"
        )
    if "schedule" in values and not isinstance(values["schedule"], Schedule):
        raise InvalidError(
            f"{decorator}(schedule={values['schedule']!r}): expected gw.Cron('0 8 * * *') or"
            " gw.Period(hours=1)"
        )
    opts = FunctionOptions(**values)
    _validate(opts, decorator)
    check_offline_mounts(opts.block_network, opts.volumes, decorator)
    return opts


def _number(decorator: str, name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidError(f"{decorator}({name}={value!r}): expected a number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidError(f"{decorator}({name}={value!r}): must be from {low} to {high}")


def _count(decorator: str, name: str, value: Any, high: int = 10_000) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidError(f"{decorator}({name}={value!r}): expected an int from 0 to {high}")


def _validate(o: FunctionOptions, d: str) -> None:
    if o.name is not None and (not isinstance(o.name, str) or not o.name.isidentifier()):
        raise InvalidError(f"{d}(name={o.name!r}): expected a Python identifier")
    _number(d, "timeout", o.timeout, 1, MAX_TIMEOUT_S)
    if o.cpu is not None:
        _number(d, "cpu", o.cpu, 0.125, 64)
    if o.memory is not None:
        if isinstance(o.memory, bool) or not isinstance(o.memory, int):
            raise InvalidError(
                f"{d}(memory={o.memory!r}): expected an int of MiB from 128 to 262144"
            )
        _number(d, "memory", o.memory, 128, 262144)
    _count(d, "min_workers", o.min_workers)
    _count(d, "max_workers", o.max_workers)
    _count(d, "buffer_workers", o.buffer_workers)
    if o.max_workers < 1:
        raise InvalidError(f"{d}(max_workers=0): at least one worker is needed")
    if o.min_workers > o.max_workers:
        raise InvalidError(
            f"{d}(min_workers={o.min_workers}, max_workers={o.max_workers}):"
            " min_workers cannot exceed max_workers"
        )
    _number(d, "idle_timeout", o.idle_timeout, 1, MAX_TIMEOUT_S)


def check_secrets(secrets: Any, where: str) -> tuple[Secret, ...]:
    """``secrets=[...]``: a list of ``gw.Secret``."""
    if isinstance(secrets, Secret):
        secrets = [secrets]
    if not isinstance(secrets, (list, tuple)):
        raise InvalidError(f"{where}(secrets=...) must be a list of gw.Secret, not {secrets!r}")
    for s in secrets:
        if not isinstance(s, Secret):
            raise InvalidError(
                f"{where}(secrets=[...]): {s!r} is not a gw.Secret (use gw.Secret.from_name,"
                " from_dict, from_local_environ or from_dotenv)"
            )
    return tuple(secrets)


def check_volumes(volumes: Any, where: str) -> tuple[tuple[str, Volume | CloudBucketMount], ...]:
    """``volumes={"/data": vol}``: absolute, distinct, non-nested mount paths of ``gw.Volume``
    or ``gw.CloudBucketMount``."""
    return check_mounts(volumes, where, "volumes", (Volume, CloudBucketMount))


M = TypeVar("M")


def check_mounts(
    mounts: Any, where: str, option: str, cls: type[M] | tuple[type, ...]
) -> tuple[tuple[str, M], ...]:
    """``option={"/data": obj}``: absolute, distinct, non-nested mount paths of ``cls``."""
    what = " or ".join(f"gw.{c.__name__}" for c in (cls if isinstance(cls, tuple) else (cls,)))
    if not isinstance(mounts, Mapping):
        raise InvalidError(
            f"{where}({option}=...) must be a dict of mount paths to {what}, not {mounts!r}"
        )
    found: dict[str, M] = {}
    for path, obj in mounts.items():
        if isinstance(path, PurePath):  # Modal takes `pathlib` paths too: `{Path("/data"): vol}`
            path = path.as_posix()
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidError(
                f"{where}({option}=...): mount path {path!r} must be an absolute path like '/data'"
            )
        parts = PurePosixPath(path).parts
        if ".." in parts or path != "/" + "/".join(parts[1:]) or len(parts) < 2:
            raise InvalidError(
                f"{where}({option}=...): mount path {path!r} must be a normalized absolute path"
                " below '/' (no '..', '.', '//' or trailing '/')"
            )
        if not isinstance(obj, cls):
            raise InvalidError(
                f"{where}({option}={{{path!r}: ...}}): {obj!r} is not a {what}; mounting"
                " anything else is not supported by this version of gworker"
            )
        found[path] = obj  # type: ignore[assignment]  # isinstance(obj, cls) checked it
    ordered = sorted(found.items())
    _not_nested([p for p, _ in ordered], f"{where}({option}=...)")
    return tuple(ordered)


def _not_nested(paths: list[str], where: str) -> None:
    for a in paths:
        for b in paths:
            if b.startswith(a + "/"):
                raise InvalidError(f"{where}: mount path {b!r} is inside {a!r}")


def check_apart(volumes: Any, nfs: Any, where: str) -> None:
    """Volumes and network file systems of one function mount at distinct, non-nested paths."""
    paths = [p for p, _ in volumes] + [p for p, _ in nfs]
    clash = sorted({p for p in paths if paths.count(p) > 1})
    if clash:
        raise InvalidError(
            f"{where}(): {clash[0]!r} is the mount path of a volume and of a network file system"
        )
    _not_nested(paths, f"{where}(volumes=..., network_file_systems=...)")


def check_include_source(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidError(
        f"{where}(include_source={value!r}): expected True (ship the entry module's source,"
        " the default) or False (the image provides it)"
    )


def with_defaults(
    options: FunctionOptions,
    secrets: tuple[Secret, ...],
    volumes: Mapping[str, Volume | CloudBucketMount],
    image: Image | None = None,
    include_source: bool | None = None,
) -> FunctionOptions:
    """An App's ``secrets=``/``volumes=``/``image=`` under a function's own: the App's secrets
    come first (so the function's win on a key clash), a function's mount replaces the App's at
    its path, and a function's image replaces the App's."""
    if options.image is None and image is not None:
        options = replace(options, image=image)
    if options.include_source is None and include_source is not None:
        options = replace(options, include_source=include_source)
    if not secrets and not volumes:
        return options
    merged = check_volumes({**volumes, **dict(options.volumes)}, "@app.function")
    check_apart(merged, options.network_file_systems, "@app.function")
    check_offline_mounts(options.block_network, merged, "@app.function")
    given = set(map(id, options.secrets))
    from_app = [s for s in bucket_secrets(merged, "@app.function") if id(s) not in given]
    return replace(options, secrets=(*secrets, *from_app, *options.secrets), volumes=merged)
