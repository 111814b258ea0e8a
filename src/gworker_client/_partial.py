"""Method-level decorators: ``method``, ``on_enter``/``enter``, ``on_exit``/``exit``,
``batched`` and ``concurrent``. Each wraps the user's function in a ``PartialFunction`` that
records what it was marked as; ``@app.cls`` collects them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from . import _protocol as protocol
from .exception import InvalidError

if TYPE_CHECKING:
    from ._protocol import WebEndpoint

T = TypeVar("T")


@dataclass(frozen=True)
class Concurrency:
    max_inputs: int
    target_inputs: int

    def to_record(self) -> protocol.Concurrency:
        return protocol.Concurrency(max_inputs=self.max_inputs, target_inputs=self.target_inputs)


@dataclass(frozen=True)
class Batching:
    max_batch_size: int
    wait_ms: int

    def to_record(self) -> protocol.Batching:
        return protocol.Batching(max_batch_size=self.max_batch_size, wait_ms=self.wait_ms)


@dataclass(frozen=True)
class PartialFunction:
    """A function marked by gworker's method decorators, waiting for ``@app.cls``."""

    raw_f: Callable[..., Any]
    flags: frozenset[str] = field(default_factory=frozenset)  # method | enter | snap | exit
    batching: Batching | None = None
    concurrency: Concurrency | None = None
    web: WebEndpoint | None = None  # set by a web decorator (gw.asgi_app(), ...)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        # on an instance, behave as the plain method so user code can call self.other(...)
        return self if obj is None else self.raw_f.__get__(obj, objtype)

    def mark(self, flag: str) -> PartialFunction:
        return replace(self, flags=self.flags | {flag})

    def with_web(self, config: WebEndpoint) -> PartialFunction:
        return replace(self, web=config)


def _partial(f: Any, decorator: str) -> PartialFunction:
    if isinstance(f, PartialFunction):
        return f
    if not callable(f) or inspect.isclass(f):
        raise InvalidError(f"{decorator} decorates a method, not {f!r}")
    return PartialFunction(f)


def _no_parentheses(decorator: str) -> InvalidError:
    return InvalidError(f"did you forget the parentheses? Write `{decorator}()`.")


def method(_f: Any = None) -> Callable[[Any], PartialFunction]:
    """Mark a method of an ``@app.cls`` class as callable remotely: ``@gw.method()``."""
    if _f is not None:
        raise _no_parentheses("@gw.method")
    return lambda f: _partial(f, "@gw.method()").mark("method")


def on_enter(_f: Any = None, *, snap: bool = False) -> Callable[[Any], PartialFunction]:
    """Run this method once when a container starts, before its first input.

    ``snap=True`` marks Modal's hook run before a memory snapshot. gworker takes no snapshot:
    every container start runs the ``snap=True`` hooks, then the others, so what a hook of
    either kind sets up is there before any input, as in Modal. The class needs
    ``enable_memory_snapshot=True``, as in Modal."""
    if _f is not None:
        raise _no_parentheses("@gw.on_enter")
    if not isinstance(snap, bool):
        raise InvalidError(f"@gw.enter(snap={snap!r}): expected True or False")
    flags = ("enter", "snap") if snap else ("enter",)

    def wrapper(f: Any) -> PartialFunction:
        p = _partial(f, "@gw.on_enter()")
        for flag in flags:
            p = p.mark(flag)
        return p

    return wrapper


def on_exit(_f: Any = None) -> Callable[[Any], PartialFunction]:
    """Run this method when a container shuts down gracefully."""
    if _f is not None:
        raise _no_parentheses("@gw.on_exit")
    return lambda f: _partial(f, "@gw.on_exit()").mark("exit")


def batched(*, max_batch_size: int, wait_ms: int) -> Callable[[Any], PartialFunction]:
    """Coalesce concurrent inputs into one call with a list per argument.

    The method receives lists of at most ``max_batch_size`` items, waiting at most ``wait_ms``
    for more, and must return a list of the same length.
    """
    setting = batching_setting(max_batch_size, wait_ms, "batched")

    def wrapper(f: Any) -> PartialFunction:
        p = _partial(f, "@gw.batched()")
        params = [
            q
            for q in inspect.signature(p.raw_f).parameters.values()
            if q.name != "self" and q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)
        ]
        if not params:
            raise InvalidError(
                f"@gw.batched(): {p.raw_f.__qualname__} takes no argument to batch; a batched"
                " method takes lists (one per argument) and returns a list of the same length"
            )
        return replace(p, batching=setting)

    return wrapper


def concurrent(*, max_inputs: int, target_inputs: int | None = None) -> Callable[[T], T]:
    """Let one container run up to ``max_inputs`` inputs at once; the autoscaler aims for
    ``target_inputs`` per container (default ``max_inputs``). Decorates a function, a class or
    a method (then it applies to the class's containers)."""
    setting = concurrency_setting(max_inputs, target_inputs, "concurrent")

    def wrapper(f: Any) -> Any:
        if inspect.isclass(f):
            f.__gw_concurrency__ = setting  # type: ignore[attr-defined]  # read by @app.cls
            return f
        return replace(_partial(f, "@gw.concurrent()"), concurrency=setting)

    return wrapper


def batching_setting(max_batch_size: Any, wait_ms: Any, where: str) -> Batching:
    """``max_batch_size``/``wait_ms`` checked; ``where`` names the call in errors."""
    if (
        isinstance(max_batch_size, bool)
        or not isinstance(max_batch_size, int)
        or max_batch_size < 1
    ):
        raise InvalidError(f"{where}(max_batch_size={max_batch_size!r}): expected an int >= 1")
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, (int, float)) or wait_ms < 0:
        raise InvalidError(f"{where}(wait_ms={wait_ms!r}): expected a number of ms >= 0")
    return Batching(max_batch_size, int(wait_ms))


def concurrency_setting(max_inputs: Any, target_inputs: Any, where: str) -> Concurrency:
    """``max_inputs``/``target_inputs`` checked; ``where`` names the call in errors."""
    if isinstance(max_inputs, bool) or not isinstance(max_inputs, int) or max_inputs < 1:
        raise InvalidError(f"{where}(max_inputs={max_inputs!r}): expected an int >= 1")
    target = max_inputs if target_inputs is None else target_inputs
    if isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= max_inputs:
        raise InvalidError(
            f"{where}(target_inputs={target_inputs!r}): expected an int from 1 to"
            f" max_inputs={max_inputs}"
        )
    return Concurrency(max_inputs, target)
