"""``gw usage`` against a real server with simulated GPUs: run a known workload, stop it, and
check the rows against the price table by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import usage_app

import gworker_client as gw

# a price table that makes the arithmetic easy to check
PRICES = {"cpu_core_second": 0.001, "memory_gib_second": 0.0001, "gpu_second": {"A100-80GB": 0.01}}


@pytest.fixture(scope="module")
def workload(gpu_server):
    with usage_app.app.run():
        assert usage_app.on_gpu.remote(1.5) == "trained"
        assert usage_app.on_cpu.remote(0.5) == "prepared"
        app_id = usage_app.app.app_id
    # the app stopped: wait (on the server) until its containers are gone and metered
    client = gw._api.client()
    for _ in range(600):
        if not client.get(f"/v1/apps/{app_id}/containers")["containers"]:
            break
        client.get(f"/v1/apps/{app_id}/logs?after=0&timeout=0.1")
    return gpu_server


def _usage(server, *args: str) -> list[dict]:
    r = server.gw("usage", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_usage_by_function_is_priced_from_the_table(workload) -> None:
    (workload.home / "prices.json").write_text(json.dumps(PRICES))
    try:
        listed = _usage(workload, "--by", "function", "--app", "usage-e2e")
        rows = {r["function"]: r for r in listed}
    finally:
        (workload.home / "prices.json").unlink()
    gpu, cpu = rows["on_gpu"], rows["on_cpu"]
    t = gpu["container_seconds"]
    assert t >= 1.5  # its container ran at least as long as the call slept
    assert gpu["gpu_type"] == "A100-80GB" and gpu["gpu_seconds"] == pytest.approx(t)
    assert gpu["cpu_seconds"] == pytest.approx(2.0 * t, rel=0.05)  # sleeping: the reservation
    assert gpu["memory_gib_seconds"] == pytest.approx(1.0 * t)  # 1 GiB reserved, less used
    by_hand = gpu["cpu_seconds"] * 0.001 + gpu["memory_gib_seconds"] * 0.0001 + t * 0.01
    assert gpu["cost_usd"] == pytest.approx(by_hand)
    assert cpu["gpu_type"] is None and cpu["gpu_seconds"] == 0
    assert cpu["cost_usd"] == pytest.approx(
        cpu["cpu_seconds"] * 0.001 + cpu["memory_gib_seconds"] * 0.0001
    )
    for row in rows.values():
        assert {"app", "function", "cpu_seconds", "memory_gib_seconds", "gpu_type"} <= set(row)
        assert row["app"] == "usage-e2e" and row["environment"] == "main"


def test_usage_groupings_agree_on_the_total(workload) -> None:
    totals = {
        by: sum(r["cost_usd"] for r in _usage(workload, "--by", by, "--app", "usage-e2e"))
        for by in ("app", "function", "gpu", "day", "token")
    }
    assert len({round(v, 12) for v in totals.values()}) == 1
    gpus = {r["gpu_type"] for r in _usage(workload, "--by", "gpu", "--app", "usage-e2e")}
    assert gpus == {"A100-80GB", None}
    (row,) = _usage(workload, "--by", "token", "--app", "usage-e2e")
    assert row["token_id"] == workload.env["GW_TOKEN_ID"]  # the token that started the app


def test_usage_table_and_filters(workload) -> None:
    r = workload.gw("usage", "--by", "function", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "on_gpu" in r.stderr and "A100-80GB" in r.stderr and "total" in r.stderr
    r = workload.gw("usage", "-e", "nowhere")
    assert r.returncode != 0 and "gw environment create nowhere" in " ".join(r.stderr.split())
    assert _usage(workload, "-e", "main") == _usage(workload)
    assert _usage(workload, "--app", "no-such-app") == []


def test_bad_since_and_prices_are_refused_naming_them(workload, tmp_path) -> None:
    r = workload.gw("usage", "--since", "yesterday")
    assert r.returncode != 0 and "since='yesterday'" in r.stderr
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps({"gpu_second": {"A100-80GB": "free"}}))
    r = workload.gw("server", "start", "--prices", str(bad))
    assert r.returncode != 0 and "gpu_second.A100-80GB='free'" in r.stderr
    assert not (workload.home / "prices.json").exists()


def test_advise_with_app_adds_what_was_observed(workload) -> None:
    app_file = str(Path(usage_app.__file__))
    r = workload.gw("advise", app_file, "--app", "usage-e2e", "--json")
    assert r.returncode == 0, r.stderr
    found = {(a["rule"], a["function"]): a for a in json.loads(r.stdout)}
    oversized = found[("gpu-oversized", "on_gpu")]  # a sleeping function needs no 80 GB
    assert 'gpu="T4"' in oversized["change"] and oversized["usd_per_month"] > 0
    assert ("gpu-oversized", "on_gpu") in found
    r = workload.gw("advise", app_file, "--app", "no-such-app")
    assert r.returncode != 0 and "no app named 'no-such-app'" in r.stderr


def test_usage_records_survive_a_restart(private_server) -> None:
    with usage_app.app.run():
        assert usage_app.on_cpu.remote(0.2) == "prepared"
    before = _usage(private_server, "--by", "function")
    private_server.restart()
    after = _usage(private_server, "--by", "function")
    assert before and [r["function"] for r in after] == [r["function"] for r in before]
    assert after[0]["container_seconds"] >= before[0]["container_seconds"] > 0
