"""GPU requests on the Ray backend land on the node that declares the type (127.0.0.3: two
simulated A100-80GB, ``--num-gpus=2`` and the ``gpu:A100-80GB`` resource)."""

from __future__ import annotations

import cls_app
import pytest

import gworker_client as gw
from gworker_client import _api


def test_a_gpu_container_lands_on_the_node_with_its_type(on_ray):
    with cls_app.app.run():
        devices, kind = cls_app.OnGpu().devices.remote()
        assert kind == "A100-80GB"  # "A100" is met by either memory size
        assert devices in ("0", "1")
        listed = _api.client().get(f"/v1/apps/{cls_app.app.app_id}/containers")["containers"]
        assert {c["node"] for c in listed if c["gpu"]} == {"127.0.0.3"}
        assert cls_app.fallback.remote() == "A100-80GB"  # no node has an H200


def test_a_gpu_no_node_has_fails_at_once_naming_what_exists(on_ray):
    with (
        cls_app.app.run(),
        pytest.raises(gw.exception.InvalidError, match=r"B200:4.*2x A100-80GB on 127\.0\.0\.3"),
    ):
        cls_app.impossible.remote()
