"""Containers on Ray nodes are metered and their logs kept: their node measures them and the
control plane records it, so `gw usage` prices a Ray container's CPU, memory and GPU time as a
local one's, and `gw container logs` prints what it wrote."""

from __future__ import annotations

import json
import time
from typing import Any

import ray_web_app

CPU_S = 1.0
HOLD_MIB = 64


def _row(server: Any) -> dict[str, Any] | None:
    """`gw usage`'s row for the metered function, if it has one yet."""
    r = server.gw("usage", "--json", "--by", "function", "--app", ray_web_app.app.name)
    assert r.returncode == 0, r.stderr
    rows = [row for row in json.loads(r.stdout) if row["function"] == "burn"]
    return rows[0] if rows else None


def test_a_container_on_a_ray_node_is_metered_and_its_logs_kept(on_ray):
    with ray_web_app.app.run():
        cid = ray_web_app.burn.remote(CPU_S, HOLD_MIB)
        # the node sends a sample each second and the meter records one each second: wait for
        # the samples that cover the call (no time is asserted, only what was measured)
        deadline = time.monotonic() + 60
        row = _row(on_ray)
        while (row is None or row["cpu_used_seconds"] < CPU_S) and time.monotonic() < deadline:
            time.sleep(0.5)
            row = _row(on_ray)
        assert row is not None, "no usage recorded for the container on the Ray node"
        assert row["cpu_used_seconds"] >= CPU_S, row
        assert row["memory_peak_mib"] >= HOLD_MIB, row
        assert row["gpu_type"] == "A100-80GB" and row["gpu_seconds"] > 0, row
        assert row["cost_usd"] > 0, row
        logs = on_ray.gw("container", "logs", cid)
        assert logs.returncode == 0, logs.stderr
        assert f"burning {CPU_S}s of CPU on A100-80GB" in logs.stdout
