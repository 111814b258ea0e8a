"""GPU placement on the local backend with a simulated inventory (A100-80GB:2, H100:2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cls_app
import pytest
from cls_app import app

import gworker_client as gw


@pytest.fixture(scope="module")
def running(gpu_server):
    with app.run():
        yield app


def test_container_gets_exactly_its_devices(running):
    devices, kind = cls_app.OnGpu().devices.remote()
    assert kind == "A100-80GB"  # "A100" is met by either memory size
    assert devices in ("0", "1")
    assert sorted(cls_app.two_h100.remote().split(",")) == ["2", "3"]


def test_no_device_is_double_booked_under_concurrent_load(running):
    """Two A100s, many concurrent callers on different parameter sets: each container holds
    one device; at any time no device is held twice."""
    classes = [cls_app.OnGpu() for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda c: c.devices.remote(), classes))
    assert {d for d, _ in results} <= {"0", "1"}
    status = gw._api.client().get("/v1/status")["backend"]["gpus"]
    holders = [g["container"] for g in status if g["container"]]
    assert len(holders) == len(set(holders))


def test_fallbacks_are_tried_in_order(running):
    assert cls_app.fallback.remote() == "A100-80GB"  # no H200 here


def test_unsatisfiable_request_fails_at_once_naming_what_exists(running):
    with pytest.raises(gw.exception.InvalidError, match=r"B200:4.*has 2x A100-80GB, 2x H100"):
        cls_app.impossible.remote()


def test_server_status_shows_the_inventory(gpu_server):
    r = gpu_server.gw("server", "status", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "A100-80GB" in r.stderr and "GW_GPUS" in r.stderr


def test_gpu_fallback_runs_without_the_gpu_and_says_so(gpu_fallback_server):
    """GW_GPU_FALLBACK=cpu on a server without that GPU: the function runs with no device, and
    the app's log says why."""
    import gpu_fallback_app

    fallback = gpu_fallback_app.app
    with fallback.run():
        assert gpu_fallback_app.on_b200.remote() == "no devices"
        logs = gpu_fallback_server.gw("app", "logs", fallback.app_id)
        text = " ".join((logs.stdout + logs.stderr).split())
        assert "'on_b200' asks for gpu B200:4, which this machine does not have" in text
        assert "GW_GPU_FALLBACK=cpu" in text


def test_a_bad_gpu_fallback_setting_stops_the_server_naming_it(start_with_env):
    with pytest.raises(gw.exception.ConnectionError, match=r"GW_GPU_FALLBACK='gpu' is not one of"):
        start_with_env({"GW_GPU_FALLBACK": "gpu"})
