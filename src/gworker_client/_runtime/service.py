"""What a container serves: a function, or an instance of a class with its methods and hooks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._cls import Cls, instantiate, run_hooks
from .._protocol import Batching, FunctionSpec
from .._server import Server
from .generator import streaming


@dataclass
class Target:
    """One callable the container runs inputs on."""

    fn: Callable[..., Any]
    is_async: bool
    batching: Batching | None


class Service:
    def __init__(self, obj: Any, spec: FunctionSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.instance: Any = None
        self.targets: dict[str | None, Target] = {}
        if isinstance(obj, (Cls, Server)):  # a class: an instance serves its methods
            assert obj._user_cls is not None
            self.instance = instantiate(obj._user_cls, params)
            for name, info in spec.methods.items():
                fn, is_async = streaming(getattr(self.instance, name), info.is_async)
                self.targets[name] = Target(fn, is_async, info.batching)
        else:
            fn, is_async = streaming(obj._raw_f, inspect.iscoroutinefunction(obj._raw_f))
            self.targets[None] = Target(fn, is_async, spec.batching)

    def target(self, method: str | None) -> Target:
        try:
            return self.targets[method]
        except KeyError:
            raise LookupError(f"{self.spec.kind} has no method {method!r}") from None

    def run_hooks(self, kind: str) -> None:
        """Run the class's ``enter`` or ``exit`` hooks, sync or async, in order."""
        run_hooks(self.instance, self.spec.enter if kind == "enter" else self.spec.exit)

    @property
    def max_inputs(self) -> int:
        return self.spec.max_inputs
