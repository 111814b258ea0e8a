"""The end-to-end suite's apps, unchanged, on the Ray backend: functions, classes and ``map``
run on the cluster's worker nodes (the head runs none), and ``map`` spreads across them."""

from __future__ import annotations

import basic_app
import cls_app
import pytest
import scaling_app

import gworker_client as gw
from gworker_client import _api

WORKERS = {"127.0.0.3", "127.0.0.4"}  # tests/ray_cluster.py: the head (127.0.0.2) runs none


def nodes_of(app: gw.App, container_ids: set[str] | None = None) -> dict[str, str]:
    """Container id -> the Ray node it runs on, for the app's live containers."""
    listed = _api.client().get(f"/v1/apps/{app.app_id}/containers")["containers"]
    return {c["id"]: c["node"] for c in listed if container_ids is None or c["id"] in container_ids}


def test_functions_run_on_worker_nodes(on_ray):
    with basic_app.app.run():
        assert basic_app.square.remote(7) == 49
        assert basic_app.add.remote(2, b=3) == 5
        assert list(basic_app.square.map(range(5))) == [0, 1, 4, 9, 16]
        with pytest.raises(basic_app.CustomError, match="boom"):
            basic_app.fail.remote("boom")
        placed = nodes_of(basic_app.app)
        assert placed and set(placed.values()) <= WORKERS
        listed = on_ray.gw("app", "containers", basic_app.app.app_id)
        printed = listed.stdout + listed.stderr  # rich's console writes to stderr
        assert "node" in printed and any(node in printed for node in WORKERS), printed


def test_classes_keep_their_state_on_a_worker_node(on_ray):
    with cls_app.app.run():
        counter = cls_app.Counter()
        first, cid = counter.incr.remote()
        second, same = counter.incr.remote()
        assert (first, second) == (1, 2) and cid == same
        assert nodes_of(cls_app.app, {cid})[cid] in WORKERS


def test_map_spreads_across_nodes(on_ray):
    with scaling_app.app.run():
        containers = set(scaling_app.capped.map([1.0] * 6))
        assert len(containers) == 2  # max_workers=2
        assert set(nodes_of(scaling_app.app, containers).values()) == WORKERS
