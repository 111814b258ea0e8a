"""What a container serves: a function, or an instance of a class with its methods and hooks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._cls import Cls, instantiate, run_hooks


@dataclass
class Target:
    """One callable the container runs inputs on."""

    fn: Callable[..., Any]
    is_async: bool
    batching: dict[str, int] | None


class Service:
    def __init__(self, obj: Any, spec: dict[str, Any], params: dict[str, Any]) -> None:
        self.spec = spec
        self.instance: Any = None
        self.targets: dict[str | None, Target] = {}
        if isinstance(obj, Cls):
            assert obj._user_cls is not None
            self.instance = instantiate(obj._user_cls, params)
            for name, info in spec["methods"].items():
                method = getattr(self.instance, name)
                self.targets[name] = Target(method, info["is_async"], info.get("batching"))
        else:
            raw = obj._raw_f
            self.targets[None] = Target(raw, inspect.iscoroutinefunction(raw), spec.get("batching"))

    def target(self, method: str | None) -> Target:
        try:
            return self.targets[method]
        except KeyError:
            raise LookupError(f"{self.spec.get('kind')} has no method {method!r}") from None

    def run_hooks(self, kind: str) -> None:
        """Run the class's ``enter`` or ``exit`` hooks, sync or async, in order."""
        run_hooks(self.instance, self.spec.get(kind, []))

    @property
    def max_inputs(self) -> int:
        concurrency = self.spec.get("concurrency") or {}
        batch = max(
            ((t.batching or {}).get("max_batch_size", 1) for t in self.targets.values()),
            default=1,  # a class with web endpoints only has no method targets
        )
        return max(concurrency.get("max_inputs", 1), batch)
