"""``@app.cls``: a stateful class served by containers; ``Cls(**params).method.remote(...)``.

On the server a class is one function whose inputs name the method to call. A class with
parameters is bound once per distinct set of values: each set gets its own function id on the
server, so its containers are autoscaled separately. Parameters travel as msgpack primitives,
never pickled. A variant (``with_options``, ``with_concurrency``, ``with_batching``) is bound the
same way, with its option overrides (see ``_variant.py``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any

import msgspec

from . import _api
from . import exception as exc
from ._container_options import check_web_options
from ._function import Function
from ._generator import is_generator_function
from ._options import FunctionOptions
from ._partial import Concurrency, PartialFunction, batching_setting, concurrency_setting
from ._probe import Probe
from ._protocol import (
    FunctionSpec,
    MethodSpec,
    ParamSpec,
    SpecOverrides,
    WebEndpoint,
    from_builtins,
)
from ._variant import bind, parse_overrides

PARAMETER_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "bytes": bytes,
}
# a parameter without a default (the protocol leaves such a default off the wire)
_MISSING: Any = msgspec.UNSET


class _Parameter:
    """The placeholder ``gw.parameter()`` leaves on the class until a container sets it."""

    def __init__(self, default: Any = _MISSING) -> None:
        self.default = default


def parameter(*, default: Any = _MISSING, init: bool = True) -> Any:
    """Declare a class parameter: ``threshold: float = gw.parameter(default=0.5)``."""
    if not init:
        raise exc.InvalidError("gw.parameter(init=False) is not supported")
    return _Parameter(default)


def _annotation_name(annotation: Any) -> str | None:
    if isinstance(annotation, str):
        return annotation if annotation in PARAMETER_TYPES else None
    for name, t in PARAMETER_TYPES.items():
        if annotation is t:
            return name
    return None


def collect_parameters(user_cls: type) -> list[ParamSpec]:
    params = []
    annotations = getattr(user_cls, "__annotations__", {})
    for name, value in vars(user_cls).items():
        if not isinstance(value, _Parameter):
            continue
        if name not in annotations:
            raise exc.InvalidError(
                f"{user_cls.__qualname__}.{name} = gw.parameter() needs a type annotation:"
                f" `{name}: str = gw.parameter()` (one of {', '.join(PARAMETER_TYPES)})"
            )
        type_name = _annotation_name(annotations[name])
        if type_name is None:
            raise exc.InvalidError(
                f"{user_cls.__qualname__}.{name}: parameter type {annotations[name]!r} is not"
                f" supported; use one of {', '.join(PARAMETER_TYPES)}"
            )
        spec = ParamSpec(name=name, type=type_name, default=value.default)
        if value.default is not _MISSING:
            check_value(user_cls.__qualname__, spec, value.default)
        params.append(spec)
    return params


def check_value(owner: str, spec: ParamSpec, value: Any) -> None:
    expected = PARAMETER_TYPES[spec.type]
    ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise exc.InvalidError(
            f"{owner} parameter {spec.name}={value!r} must be {spec.type}, not"
            f" {type(value).__name__}"
        )


def bind_parameters(owner: str, specs: list[ParamSpec], values: dict[str, Any]) -> dict[str, Any]:
    known = {s.name: s for s in specs}
    for name in values:
        if name not in known:
            listed = ", ".join(known) or "none"
            raise exc.InvalidError(f"{owner} has no parameter {name!r}; its parameters: {listed}")
    bound = {}
    for spec in specs:
        if spec.name in values:
            check_value(owner, spec, values[spec.name])
            value = values[spec.name]
            bound[spec.name] = float(value) if spec.type == "float" else value
        elif spec.default is not _MISSING:
            bound[spec.name] = spec.default
        else:
            raise exc.InvalidError(
                f"{owner} needs parameter {spec.name!r} ({spec.type}): {owner}({spec.name}=...)"
            )
    return bound


def instantiate(user_cls: type, params: dict[str, Any]) -> Any:
    """Create the user's object the way a container does: parameters set, then ``__init__``."""
    obj: Any = object.__new__(user_cls)
    for name, value in params.items():
        setattr(obj, name, value)
    if user_cls.__init__ is not object.__init__:  # type: ignore[misc]
        obj.__init__()
    return obj


def run_hooks(obj: Any, names: Sequence[str]) -> None:
    """Run ``obj``'s lifecycle hooks in order, sync or ``async``."""
    for name in names:
        resolve(getattr(obj, name)())


def resolve(result: Any) -> Any:
    """``result``, or what it resolves to when it is awaitable (run on a fresh event loop)."""
    return asyncio.run(as_coroutine(result)) if inspect.isawaitable(result) else result


async def as_coroutine(awaitable: Any) -> Any:
    return await awaitable


class Cls:
    """A class registered with ``@app.cls``. Call it with parameters to get an instance handle."""

    def __init__(
        self,
        user_cls: type | None,
        service: Function,
        spec: FunctionSpec,
        overrides: SpecOverrides | None = None,
    ) -> None:
        self._user_cls = user_cls
        self._service = service
        self._spec = spec
        self._overrides = overrides or SpecOverrides()  # set on a variant (with_options)
        self._params = list(spec.params)
        self.__name__ = service.tag
        self.__qualname__ = service.tag
        if user_cls is not None:
            self.__doc__ = user_cls.__doc__
            self.__module__ = user_cls.__module__

    def __repr__(self) -> str:
        return f"Cls({self._service.tag!r})"

    @classmethod
    def lookup(cls, app_name: str, name: str, *, environment_name: str | None = None) -> Cls:
        """Modal's older spelling (before 1.0) of ``from_name``."""
        return cls.from_name(app_name, name, environment_name=environment_name)

    @classmethod
    def from_name(cls, app_name: str, name: str, *, environment_name: str | None = None) -> Cls:
        """A handle on a deployed class."""
        info = _api.lookup_function(app_name, name, environment_name)
        spec = from_builtins(info["spec"], FunctionSpec)
        if spec.kind != "class":
            raise exc.InvalidError(
                f"{app_name}.{name} is a function; use gw.Function.from_name for it"
            )
        service = Function(None, FunctionOptions(), name)
        service._object_id = info["function_id"]
        return cls(None, service, spec)

    def __call__(self, **params: Any) -> Obj:
        return Obj(self, bind_parameters(self._service.tag, self._params, params))

    def with_options(self, **options: Any) -> Cls:
        """This class with other options (``timeout``, ``cpu``, ``memory``, ``gpu``, ``retries``,
        ``max_containers``, ``scaledown_window``, ...): its instances' calls run in containers of
        their own, while this class keeps its options. Calls stack; later options win."""
        where = f"{self._service.tag}.with_options"
        return self._variant(parse_overrides(options, where, "@app.cls(...)"))

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Cls:
        """This class with its containers running up to ``max_inputs`` inputs at once (the
        autoscaler aims for ``target_inputs``), as ``@gw.concurrent`` does."""
        where = f"{self._service.tag}.with_concurrency"
        setting = concurrency_setting(max_inputs, target_inputs, where)
        return self._variant(SpecOverrides(concurrency=setting.to_record()))

    def with_batching(self, *, max_batch_size: int, wait_ms: int) -> Cls:
        """This class with its ``@gw.batched`` methods taking batches of up to
        ``max_batch_size`` inputs, waiting at most ``wait_ms`` for more."""
        tag = self._service.tag
        if not any(m.batching for m in self._spec.methods.values()):
            raise exc.InvalidError(
                f"{tag}.with_batching(...): {tag} has no @gw.batched() method to change; mark"
                " one with @gw.batched(max_batch_size=..., wait_ms=...)"
            )
        setting = batching_setting(max_batch_size, wait_ms, f"{tag}.with_batching")
        return self._variant(SpecOverrides(batching=setting.to_record()))

    def _variant(self, overrides: SpecOverrides) -> Cls:
        return Cls(self._user_cls, self._service, self._spec, self._overrides.stacked(overrides))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._spec.methods:
            raise AttributeError(
                f"{self._service.tag}.{name} is a method: call it on an instance,"
                f" {self._service.tag}().{name}.remote(...)"
            )
        raise AttributeError(f"{self._service.tag} has no attribute {name!r}")


class Obj:
    """An instance handle: ``Cls(**params)``. Its methods have ``.remote``, ``.map``, ..."""

    def __init__(self, cls: Cls, params: dict[str, Any]) -> None:
        self._cls = cls
        self._params = params
        self._bound_id: str | None = None
        self._local: Any = None

    def _function_id(self) -> str:
        overrides = self._cls._overrides
        if not self._cls._params and not overrides.given():
            return self._cls._service._hydrate()
        if self._bound_id is None:
            self._bound_id = bind(self._cls._service._hydrate(), self._params, overrides)
        return self._bound_id

    def _local_instance(self) -> Any:
        if self._cls._user_cls is None:
            raise exc.ExecutionError(
                f"{self._cls._service.tag} was looked up by name: no local code"
            )
        if self._local is None:
            self._local = instantiate(self._cls._user_cls, self._params)
            run_hooks(self._local, self._cls._spec.enter)
        return self._local

    def __getattr__(self, name: str) -> Function:
        if name.startswith("_"):
            raise AttributeError(name)
        methods = self._cls._spec.methods
        web = tuple(w for w in self._cls._spec.web if w.name == name)
        if web and self._cls._overrides.given():
            tag = self._cls._service.tag
            raise exc.InvalidError(
                f"{tag}.{name} is a web endpoint, served with the options {tag} was published"
                f" with; reach it through {tag}().{name}, not through a with_options variant"
            )
        if web:  # a web endpoint: its handle gives the URL (get_web_url) and refuses .remote()
            handle = Function(
                None,
                self._cls._service._options,
                f"{self._cls._service.tag}.{name}",
                method=name,
                resolver=self._function_id,
                extra_spec={"web": web},
            )
            self.__dict__[name] = handle
            return handle
        if name not in methods:
            raise AttributeError(
                f"{self._cls._service.tag} has no method {name!r} (methods: {', '.join(methods)})"
            )
        raw = getattr(self._cls._user_cls, name, None) if self._cls._user_cls else None
        if isinstance(raw, PartialFunction):
            raw = raw.raw_f
        handle = Function(
            raw,
            self._cls._service._options,
            f"{self._cls._service.tag}.{name}",
            method=name,
            resolver=self._function_id,
            extra_spec={"generator": methods[name].is_generator},
            local=lambda *a, **kw: _call_local(self._local_instance(), name, methods[name], a, kw),
        )
        self.__dict__[name] = handle
        return handle


def _call_local(obj: Any, name: str, info: MethodSpec, args: Any, kwargs: Any) -> Any:
    method = getattr(obj, name)
    if info.batching:  # a batched method takes lists: call it with batches of one
        result = method(*[[a] for a in args], **{k: [v] for k, v in kwargs.items()})
        return result[0]
    return resolve(method(*args, **kwargs))


def build_cls(
    user_cls: type,
    options: FunctionOptions,
    probes: list[Probe],
    app: Any,
    server: WebEndpoint | None = None,
) -> tuple[Cls, Function]:
    """Read the decorated class: its methods, hooks, parameters, batching and concurrency;
    ``server`` is the endpoint of an ``@app.server`` class (its enter hooks start it)."""
    methods: dict[str, MethodSpec] = {}
    enter: list[str] = []
    snap: list[str] = []  # @enter(snap=True) hooks: run before the others (no snapshot taken)
    exit_: list[str] = []
    concurrency: Concurrency | None = getattr(user_cls, "__gw_concurrency__", None)
    web: list[WebEndpoint] = [server] if server is not None else []
    for name, value in vars(user_cls).items():
        if not isinstance(value, PartialFunction):
            continue
        if value.web is not None:  # a web endpoint served by the class's containers
            web.append(msgspec.structs.replace(value.web, name=name))
        if "method" in value.flags or value.batching is not None:
            methods[name] = MethodSpec(
                batching=value.batching.to_record() if value.batching else None,
                is_async=inspect.iscoroutinefunction(value.raw_f),
                is_generator=is_generator_function(value.raw_f),
            )
            if value.batching is not None and methods[name].is_generator:
                raise exc.InvalidError(
                    f"@gw.batched() cannot mark {user_cls.__qualname__}.{name}: it is a generator"
                )
        if "enter" in value.flags:
            (snap if "snap" in value.flags else enter).append(name)
        if "exit" in value.flags:
            exit_.append(name)
        if value.concurrency is not None:
            if concurrency is not None and concurrency != value.concurrency:
                raise exc.InvalidError(
                    f"{user_cls.__qualname__}: conflicting @gw.concurrent settings; a class's"
                    " containers have one concurrency setting"
                )
            concurrency = value.concurrency
    if not methods and not web:
        raise exc.InvalidError(
            f"@app.cls(): {user_cls.__qualname__} has no @gw.method(); mark the methods to call"
        )
    if snap and not options.enable_memory_snapshot:
        raise exc.InvalidError(
            f"{user_cls.__qualname__}.{snap[0]}: @gw.enter(snap=True) needs the class to have"
            " enable_memory_snapshot=True (as in Modal)"
        )
    enter = snap + enter
    if web:
        check_web_options(options, user_cls.__qualname__)
    params = collect_parameters(user_cls)
    if web and params:
        raise exc.InvalidError(
            f"@app.cls(): {user_cls.__qualname__} has web endpoints and parameters; a web"
            " endpoint is served by one set of containers, so remove the gw.parameter()s (read"
            " values from the request instead)"
        )
    for probe in probes:
        if probe.method not in methods:
            raise exc.InvalidError(
                f"Probe.on({probe.method!r}): {user_cls.__qualname__} has no @gw.method()"
                f" named {probe.method!r} (methods: {', '.join(methods)})"
            )
    concurrency = concurrency or options.concurrency
    extra: dict[str, Any] = {
        "kind": "class",
        "methods": methods,
        "enter": tuple(enter),
        "exit": tuple(exit_),
        "params": tuple(collect_parameters(user_cls)),
        "probes": tuple(p.to_record() for p in probes),
        "concurrency": concurrency.to_record() if concurrency else None,
    }
    if web:
        extra["web"] = tuple(web)
    tag = options.name or user_cls.__qualname__
    service = Function(user_cls, options, tag, app, extra_spec=extra)
    return Cls(user_cls, service, service._spec()), service
