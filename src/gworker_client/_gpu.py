"""GPU requests: ``gpu="A100"``, ``"H100:4"``, ``"any"``, a list of fallbacks, or ``gw.Gpu(...)``.

A request normalizes to a list of ``GpuRequest`` alternatives tried in order. ``"A100"``
is met by either A100 memory size; ``"any"`` by any device in the inventory.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ._protocol import GpuRequest
from ._protocol.gpu import FAMILIES, KNOWN_TYPES, matches
from ._protocol.timing import MAX_GPU_COUNT
from .exception import InvalidError

ALIASES = {"A10": "A10G", "A100": "A100", "H100!": "H100", "ANY": "any"}
MAX_COUNT = MAX_GPU_COUNT


@dataclass(frozen=True)
class Gpu:
    """A GPU request: ``gw.Gpu("A100", count=2)``."""

    type: str
    count: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _canonical(self.type))
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise InvalidError(f"GPU count {self.count!r} must be an int from 1 to {MAX_COUNT}")
        if not 1 <= self.count <= MAX_COUNT:
            raise InvalidError(f"GPU count {self.count} must be from 1 to {MAX_COUNT}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "count": self.count}

    def to_record(self) -> GpuRequest:
        return GpuRequest(type=self.type, count=self.count)


def _canonical(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidError(f"GPU type {name!r} must be a string such as 'A100' or 'H100:2'")
    upper = name.upper()
    if upper in ALIASES:
        return ALIASES[upper]
    if upper in KNOWN_TYPES:
        return upper
    known = sorted({*KNOWN_TYPES, *FAMILIES, "any"})
    close = difflib.get_close_matches(upper, known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InvalidError(f"unknown GPU type {name!r}; known types: {', '.join(known)}.{hint}")


def _parse_one(value: Any) -> Gpu:
    if isinstance(value, Gpu):
        return value
    if isinstance(value, str):
        name, sep, count = value.partition(":")
        if not sep:
            return Gpu(name)
        try:
            n = int(count)
        except ValueError:
            raise InvalidError(f"GPU count in {value!r} must be an int, e.g. 'H100:2'") from None
        return Gpu(name, n)
    raise InvalidError(f"gpu={value!r} must be a string like 'A100' or 'H100:4', or gw.Gpu(...)")


def parse_gpu(value: Any) -> list[GpuRequest] | None:
    """Normalize a ``gpu=`` option into alternatives in preference order."""
    if value is None:
        return None
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise InvalidError("gpu=[] lists no GPU types; pass None for no GPU")
    return [_parse_one(v).to_record() for v in values]


__all__ = ["Gpu", "KNOWN_TYPES", "matches", "parse_gpu"]
