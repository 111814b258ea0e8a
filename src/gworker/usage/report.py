"""Usage totals (from the store) grouped and priced: the numbers ``gw usage`` and the dashboard
show."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from gworker_client._protocol.usage import GROUPINGS, UsageReport, UsageRow

from ..store.usage import UsageTotal
from .prices import Prices

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class UsageQueryError(ValueError):
    """A bad ``--since`` or ``--by``; the message names the value and what is accepted."""


def parse_span(text: str) -> float:
    """Seconds in a span such as ``90s``, ``30m``, ``24h``, ``7d`` or ``2w``."""
    m = _SPAN.match(text.strip())
    if not m:
        raise UsageQueryError(
            f"since={text!r}: expected a number and a unit (s, m, h, d or w), e.g. 24h or 7d"
        )
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def check_by(by: str) -> str:
    if by not in GROUPINGS:
        raise UsageQueryError(f"by={by!r}: expected one of {', '.join(GROUPINGS)}")
    return by


@dataclass
class _Sum:
    containers: set[str] = field(default_factory=set)
    seconds: float = 0.0
    cpu: float = 0.0
    cpu_used: float = 0.0
    memory_mib_s: float = 0.0
    peak: float = 0.0
    gpu_peak: float | None = None
    gpu_s: float = 0.0
    cost: float = 0.0


def _key(t: UsageTotal, by: str) -> tuple[str | None, ...]:
    s = t.subject
    day = time.strftime("%Y-%m-%d", time.gmtime(t.bucket)) if by == "day" else None
    if by == "app":
        return (s.app_name, None, s.environment, None, None)
    if by == "function":
        return (s.app_name, s.function, s.environment, None, None)
    if by == "gpu":
        return (None, None, None, s.gpu_type, None)
    if by == "token":
        return (None, None, None, None, s.token_id)
    return (None, None, None, None, day)


def summarize(
    totals: Iterable[UsageTotal], prices: Prices, by: str, since: float, until: float
) -> UsageReport:
    """Group ``totals`` by ``by`` (app, function, gpu, day or token) and price each group."""
    groups: dict[tuple[str | None, ...], _Sum] = {}
    gpu_types: dict[tuple[str | None, ...], set[str | None]] = {}
    for t in totals:
        key = _key(t, check_by(by))
        g = groups.setdefault(key, _Sum())
        s = t.subject
        gpu_s = t.seconds * s.gpu_count if s.gpu_type else 0.0
        memory_gib_s = t.memory_mib_seconds / 1024
        g.containers.add(s.container_id)
        g.seconds += t.seconds
        g.cpu += t.cpu_billed
        g.cpu_used += t.cpu_used
        g.memory_mib_s += t.memory_mib_seconds
        g.peak = max(g.peak, t.memory_peak_mib)
        if t.gpu_memory_peak_mib is not None:
            g.gpu_peak = max(g.gpu_peak or 0.0, t.gpu_memory_peak_mib)
        g.gpu_s += gpu_s
        g.cost += prices.cost(t.cpu_billed, memory_gib_s, s.gpu_type, gpu_s)
        gpu_types.setdefault(key, set()).add(s.gpu_type)
    rows = []
    for key, g in groups.items():
        kinds = gpu_types[key] - {None}
        app, function, env, gpu, last = key  # last: the day or the token, by grouping
        if by in ("app", "function"):  # one GPU type names the group's; several name none
            gpu = next(iter(kinds)) if len(kinds) == 1 else None
        rows.append(
            UsageRow(
                app=app,
                function=function,
                environment=env,
                gpu_type=gpu,
                day=last if by == "day" else None,
                token_id=last if by == "token" else None,
                containers=len(g.containers),
                container_seconds=g.seconds,
                cpu_seconds=g.cpu,
                cpu_used_seconds=g.cpu_used,
                memory_gib_seconds=g.memory_mib_s / 1024,
                memory_peak_mib=g.peak,
                gpu_memory_peak_mib=g.gpu_peak,
                gpu_seconds=g.gpu_s,
                cost_usd=g.cost,
            )
        )
    rows.sort(key=lambda r: (r.day or "", -r.cost_usd))
    return UsageReport(
        since=since,
        until=until,
        by=by,
        rows=rows,
        total_usd=sum(r.cost_usd for r in rows),
        prices=prices.to_json(),
    )
