"""The price table: what a second of a CPU core, a GiB of memory and each GPU type costs.

The defaults are Modal's published per-second prices (2025), so ``gw usage`` and ``gw advise``
speak in the currency users compare against. A self-hosted machine's real cost differs: put a
JSON file at ``GW_HOME/prices.json`` (``gw server start --prices FILE`` validates and installs
one). Any key left out keeps its default::

    {"cpu_core_second": 0.0000131, "memory_gib_second": 0.00000222,
     "gpu_second": {"A100-80GB": 0.0005, "H100": 0.0011}}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gworker_client._protocol.gpu import FAMILIES, KNOWN_TYPES

PRICES_FILE = "prices.json"
# Modal bills at least this many cores per container.
MIN_CPU_CORES = 0.125

_DEFAULT_GPU = {
    "T4": 0.000164,
    "L4": 0.000222,  # ~$0.80/h
    "A10G": 0.000306,
    "L40S": 0.00042,
    "A100-40GB": 0.00056,
    "A100-80GB": 0.00083,
    "H100": 0.00139,
    "H200": 0.00139,  # ~$5/h, as H100
    "B200": 0.001736,
}


class PriceError(ValueError):
    """A price file that cannot be used; the message names the key and what is accepted."""


@dataclass(frozen=True)
class Prices:
    """USD per second of one core, of one GiB of memory, and of one GPU of each type."""

    cpu_core_second: float = 0.0000131
    memory_gib_second: float = 0.00000222
    gpu_second: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_GPU))
    source: str = "defaults (Modal's published prices)"

    def gpu(self, gpu_type: str | None) -> float:
        """One GPU of ``gpu_type`` for a second; a family name ("A100") costs its cheapest."""
        if not gpu_type:
            return 0.0
        if gpu_type in self.gpu_second:
            return self.gpu_second[gpu_type]
        members = [self.gpu_second[t] for t in FAMILIES.get(gpu_type, ()) if t in self.gpu_second]
        return min(members) if members else 0.0

    def cost(
        self,
        cpu_seconds: float,
        memory_gib_seconds: float,
        gpu_type: str | None,
        gpu_seconds: float,
    ) -> float:
        return (
            cpu_seconds * self.cpu_core_second
            + memory_gib_seconds * self.memory_gib_second
            + gpu_seconds * self.gpu(gpu_type)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_core_second": self.cpu_core_second,
            "memory_gib_second": self.memory_gib_second,
            "gpu_second": dict(self.gpu_second),
            "source": self.source,
        }


DEFAULT_PRICES = Prices()


def prices_path(home: Path) -> Path:
    return home / PRICES_FILE


def _price(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PriceError(f"{key}={value!r}: expected a number of USD per second, e.g. 0.0000131")
    if not math.isfinite(value) or value < 0:
        raise PriceError(f"{key}={value!r}: expected a finite price >= 0 (USD per second)")
    return float(value)


def parse_prices(data: Any, source: str) -> Prices:
    """A ``Prices`` from a decoded price file; a PriceError naming the first bad key."""
    if not isinstance(data, dict):
        raise PriceError(f"{source}: expected a JSON object, got {type(data).__name__}")
    allowed = ("cpu_core_second", "memory_gib_second", "gpu_second")
    for key in data:
        if key not in allowed:
            raise PriceError(f"{source}: unknown key {key!r}; expected {', '.join(allowed)}")
    gpu = dict(_DEFAULT_GPU)
    given = data.get("gpu_second", {})
    if not isinstance(given, dict):
        raise PriceError(f"gpu_second={given!r}: expected an object of GPU type -> USD per second")
    for name, value in given.items():
        if name not in KNOWN_TYPES:
            raise PriceError(
                f"gpu_second.{name}: unknown GPU type; expected one of {', '.join(KNOWN_TYPES)}"
            )
        gpu[name] = _price(f"gpu_second.{name}", value)
    return Prices(
        cpu_core_second=_price("cpu_core_second", data.get("cpu_core_second", 0.0000131)),
        memory_gib_second=_price("memory_gib_second", data.get("memory_gib_second", 0.00000222)),
        gpu_second=gpu,
        source=source,
    )


def read_price_file(path: Path) -> Prices:
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise PriceError(f"cannot read the price file {path}: {e.strerror}") from None
    except ValueError as e:
        raise PriceError(f"the price file {path} is not valid JSON: {e}") from None
    return parse_prices(data, str(path))


def load_prices(home: Path) -> Prices:
    """``GW_HOME/prices.json`` if there is one, else the defaults."""
    path = prices_path(home)
    return read_price_file(path) if path.exists() else DEFAULT_PRICES
