"""``gw advise``: concrete, ranked advice on an app, from its code and (``--app``) what the
server observed of it. ``rules.py`` holds the rules; ``source.py`` reads the code."""

from __future__ import annotations

from pathlib import Path

from ..usage import Prices
from .rules import RULES, Advice, Observed
from .source import read

__all__ = ["Advice", "advise"]


def advise(path: Path, prices: Prices, observed: Observed | None = None) -> list[Advice]:
    """Every rule's advice on the app in ``path``, most valuable first: money saved per month,
    then latency saved, then severity."""
    src = read(path)
    found = [a for rule in RULES for a in rule(src, prices, observed or {})]
    return sorted(found, key=lambda a: (-a.usd_per_month, -a.latency_s, -a.severity, a.where))
