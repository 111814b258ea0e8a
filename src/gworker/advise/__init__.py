"""``gw advise``: concrete, ranked advice on an app, from its code and (``--app``) what the
server observed of it. ``rules.py`` holds the rules; ``source.py`` reads the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..usage import Prices
from .rules import RULES, Advice, Observed
from .source import UNKNOWN, read

__all__ = ["Advice", "advise"]


def advise(path: Path, prices: Prices, observed: Observed | None = None) -> list[Advice]:
    """Every rule's advice on the app in ``path``, most valuable first: money saved per month,
    then latency saved, then severity."""
    src = read(path)
    for d in src.deployed:  # what the code computes, the deployed spec knows
        deployed_spec = (observed or {}).get(d.name, {}).get("spec") or {}
        for key, value in d.options.items():
            if value is UNKNOWN and deployed_spec.get(key) is not None:
                d.options[key] = _from_spec(key, deployed_spec[key])
    found = [a for rule in RULES for a in rule(src, prices, observed or {})]
    return sorted(found, key=lambda a: (-a.usd_per_month, -a.latency_s, -a.severity, a.where))


def _from_spec(key: str, value: Any) -> Any:
    """A deployed spec's value in the decorator's spelling (``gpu`` is a list of requests)."""
    if key == "gpu" and isinstance(value, list):
        names = [f"{g['type']}:{g.get('count', 1)}" for g in value if isinstance(g, dict)]
        return names[0] if len(names) == 1 else names
    return value
