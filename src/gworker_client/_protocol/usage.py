"""Usage report rows: what ``GET /v1/usage`` returns and ``gw usage --json`` prints."""

from __future__ import annotations

import msgspec

GROUPINGS = ("app", "function", "gpu", "day", "token")


class UsageRow(msgspec.Struct, frozen=True, kw_only=True):
    """Usage summed over one group. A dimension the grouping folds away is None (``--by app``
    has no one ``function``). ``cpu_seconds`` and ``memory_gib_seconds`` are what is billed: per
    second, the larger of the reservation and what was used."""

    app: str | None
    function: str | None
    environment: str | None
    gpu_type: str | None
    day: str | None  # YYYY-MM-DD (UTC) with --by day
    token_id: str | None  # the user token that created the apps, with --by token
    containers: int  # distinct containers counted
    container_seconds: float  # how long they ran
    cpu_seconds: float  # billed core-seconds
    cpu_used_seconds: float  # core-seconds measured in their cgroups
    memory_gib_seconds: float  # billed GiB-seconds
    memory_peak_mib: float  # the highest any of them reached
    gpu_memory_peak_mib: float | None  # the most GPU memory one held (NVML); None: not measured
    gpu_seconds: float  # GPU-seconds (a 2-GPU container counts 2 per second)
    cost_usd: float


class UsageReport(msgspec.Struct, frozen=True, kw_only=True):
    since: float
    until: float
    by: str
    rows: list[UsageRow]
    total_usd: float
    prices: dict[str, object]
