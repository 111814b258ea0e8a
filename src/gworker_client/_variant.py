"""Variants: a function or class run with other options (``with_options``, ``with_concurrency``,
``with_batching``) in containers of its own, while the original keeps its options.

The caller sends only the overrides; the server applies them to the published spec (it holds the
resolved image, secrets and volumes) and keeps each distinct variant as one bound function, so
the same variant asked for twice, by any caller, is served by the same containers.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from . import _api
from ._function import Function
from ._mounts import volume_mounts
from ._options import ALIASES, CONTAINER_LIFE, parse_options
from ._protocol import SpecOverrides, to_builtins, to_wire
from .exception import InvalidError

# Options Modal's with_options takes that gworker resolves only when an app is published.
PUBLISHED_ONLY = {
    "secrets": "secrets are resolved when the app is published",
    "network_file_systems": "network file systems are resolved and mounted as published",
    "env": "a container's environment comes from secrets, resolved when the app is published",
    "image": "an image is built when the app is published",
    "name": "a name is given when the app is published",
    "schedule": "schedules are set when the app is published",
    "include_source": "code is shipped when the app is published",
}


def parse_overrides(options: dict[str, Any], where: str, decorator: str) -> SpecOverrides:
    """``with_options`` keyword arguments (Modal's spellings or gworker's), validated as the
    decorator validates them; ``where`` names the call in errors, ``decorator`` the fix."""
    for key, value in options.items():
        if key in PUBLISHED_ONLY and value not in (None, {}, [], ()):
            raise InvalidError(
                f"{where}({key}=...) is not supported: {PUBLISHED_ONLY[key]}. Give {key}= in"
                f" {decorator} (of a second function or class, to keep both)"
            )
        if key in CONTAINER_LIFE:
            raise InvalidError(
                f"{where}({key}=...) is not an option of with_options (nor is it in Modal): give"
                f" {key}= in {decorator}"
            )
    rest = {k: v for k, v in options.items() if k not in PUBLISHED_ONLY}
    volumes = rest.pop("volumes", None)
    opts = parse_options(rest, decorator=where)
    fields: dict[str, Any] = {}
    if volumes:  # the variant's own mounts, in place of the published ones (as Modal)
        pairs = parse_options({"volumes": volumes}, decorator=where).volumes
        fields["volumes"], fields["bucket_mounts"] = volume_mounts(pairs)
    for name in {ALIASES.get(k, k) for k, v in rest.items() if v is not None}:
        if name == "cpu":  # as in the decorator: a reservation and an enforced limit
            fields.update(cpu=float(opts.cpu or 0), cpu_limit=float(opts.cpu or 0))
        elif name == "memory":
            fields.update(memory=opts.memory, memory_limit=opts.memory)
        elif name in ("timeout", "idle_timeout"):
            fields[name] = float(getattr(opts, name))
        elif name in ("retries", "concurrency"):
            fields[name] = getattr(opts, name).to_record()
        elif name != "gpu" or opts.gpu:  # gpu=[]: none asked, nothing to change
            fields[name] = getattr(opts, name)
    return SpecOverrides(**fields)


def variant_key(params: dict[str, Any], overrides: SpecOverrides) -> str:
    """The sha256 of the parameter values and the overrides: one bound function per variant."""
    packed = msgpack.packb(sorted(params.items()), use_bin_type=True)
    if overrides.given():  # fields encode in declaration order: the same overrides, one key
        packed += to_wire(overrides)
    return hashlib.sha256(packed).hexdigest()


def bind(function_id: str, params: dict[str, Any], overrides: SpecOverrides) -> str:
    """The id of ``function_id`` bound to ``params`` with ``overrides`` (made on first ask)."""
    resp = _api.client().post(
        f"/v1/functions/{function_id}/bind",
        {
            "params": params,
            "key": variant_key(params, overrides),
            "overrides": to_builtins(overrides),
        },
    )
    return str(resp["function_id"])


def function_variant(base: Function, options: dict[str, Any]) -> Function:
    """``base.with_options(**options)``."""
    where = f"{base.tag}.with_options"
    if base._method is not None:
        cls_tag = base.tag.rsplit(".", 1)[0]
        raise InvalidError(
            f"{where}(...): a method runs in its class's containers; use"
            f" {cls_tag}.with_options(...) on the class, then call {base.tag}"
        )
    if base._extra_spec.get("web"):
        raise InvalidError(
            f"{where}(...): {base.tag!r} is a web endpoint, served with the options it was"
            " published with; change them in its decorator"
        )
    return FunctionVariant(base, parse_overrides(options, where, "@app.function(...)"))


class FunctionVariant(Function):
    """A function run with other options: ``f.with_options(timeout=10)``. Its calls go to
    containers of its own; ``f`` keeps its options."""

    def __init__(self, base: Function, overrides: SpecOverrides) -> None:
        super().__init__(
            base._raw_f,
            base._options,
            base.tag,
            base._app,
            local=base._local,
            extra_spec=base._extra_spec,
        )
        self._base = base
        self._overrides = overrides
        self._bound: tuple[str, str] | None = None  # (the base's id, this variant's id)

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self._overrides.given().items())
        return f"Function({self.tag!r}).with_options({given})"

    def _hydrate(self) -> str:
        base_id = self._base._hydrate()  # a new app run publishes the base anew
        if self._bound is None or self._bound[0] != base_id:
            self._bound = (base_id, bind(base_id, {}, self._overrides))
        return self._bound[1]

    @property
    def is_generator(self) -> bool:
        return self._base.is_generator

    def with_options(self, **options: Any) -> Function:
        """This variant with more options on top (later ones win)."""
        more = parse_overrides(options, f"{self.tag}.with_options", "@app.function(...)")
        return FunctionVariant(self._base, self._overrides.stacked(more))
