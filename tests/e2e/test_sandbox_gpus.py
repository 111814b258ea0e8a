"""GPU sandboxes take devices from the inventory functions use (simulated: A100-80GB:2, H100:2),
and a device is never held twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cls_app
import pytest

import gworker_client as gw
from gworker_client.exception import InvalidError


@pytest.fixture(scope="module")
def app(gpu_server):
    return gw.App.lookup("sandbox-gpus", create_if_missing=True)


def devices(sb: gw.Sandbox) -> str:
    return sb.exec("sh", "-c", "echo $CUDA_VISIBLE_DEVICES:$GW_GPU").stdout.read().strip()


def holders() -> dict[int, str | None]:
    gpus = gw._api.client().get("/v1/status")["backend"]["gpus"]
    return {g["index"]: g["container"] for g in gpus}


def test_each_sandbox_gets_its_own_devices_and_a_third_waits(app):
    a = gw.Sandbox.create(app=app, gpu="H100")
    b = gw.Sandbox.create(app=app, gpu="H100")
    try:
        got = {devices(a), devices(b)}
        assert got == {"2:H100", "3:H100"}
        held = holders()
        assert held[2] and held[3] and held[2] != held[3]
        with ThreadPoolExecutor(1) as pool:
            third = pool.submit(gw.Sandbox.create, app=app, gpu="H100")
            assert devices(b)  # a round trip: the third is still waiting for a device
            assert not third.done()
            freed = devices(a).split(":")[0]
            a.terminate()
            c = third.result(timeout=300)
        try:
            assert devices(c) == f"{freed}:H100"
        finally:
            c.terminate()
    finally:
        a.terminate()
        b.terminate()


def test_functions_and_sandboxes_share_the_inventory(app):
    with cls_app.app.run():
        sandboxes = [gw.Sandbox.create(app=app, gpu="H100") for _ in range(2)]
        call = cls_app.two_h100.spawn()
        # the function needs both H100s: it cannot start while the sandboxes hold them
        assert all(devices(sb) for sb in sandboxes)
        held = holders()
        assert all(held[i] and held[i].startswith("sbx-gpu-") for i in (2, 3))
        for sb in sandboxes:
            sb.terminate()
        assert sorted(call.get(timeout=300).split(",")) == ["2", "3"]


def test_a_sandbox_without_a_gpu_sees_none(app):
    sb = gw.Sandbox.create("sh", "-c", "echo [$CUDA_VISIBLE_DEVICES]", app=app)
    assert sb.stdout.read() == "[]\n"


def test_a_gpu_this_machine_lacks_is_refused_naming_what_it_has(app):
    with pytest.raises(InvalidError, match=r"B200.*2x A100-80GB, 2x H100"):
        gw.Sandbox.create(app=app, gpu="B200")
    with pytest.raises(InvalidError, match="gpu"):
        gw.Sandbox.create(app=app, gpu=3)


def test_gw_shell_gpu_override(gpu_server):
    r = gpu_server.gw("shell", "--gpu", "H100", "--cmd", "echo $GW_GPU $GW_GPU_COUNT")
    assert (r.returncode, r.stdout) == (0, "H100 1\n"), r.stderr
