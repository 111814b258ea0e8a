"""Failures on the Ray backend: a whole node going away mid-``map`` (what ``ray stop`` on it
does) loses no input, and a container no node can hold fails at once with the reason."""

from __future__ import annotations

import threading
import time

import pytest
import ray_cluster_app
from ray_cluster_app import app

import gworker_client as gw
from gworker_client import _api

DOOMED_IP = "127.0.0.5"  # a worker node of this test's own, stopped mid-map


def _busy_on(node: str) -> bool:
    listed = _api.client().get(f"/v1/apps/{app.app_id}/containers")["containers"]
    return any(c["node"] == node and c["inputs"] for c in listed)


def test_a_node_going_away_mid_map_loses_nothing(on_ray, ray_cluster):
    ray_cluster.add_nodes((DOOMED_IP, 2, 0))
    results: list[int] = []
    errors: list[BaseException] = []
    with app.run():

        def mapping() -> None:
            try:
                results.extend(ray_cluster_app.slow_square.map(range(40)))
            except BaseException as e:  # reported by the test below
                errors.append(e)

        thread = threading.Thread(target=mapping)
        thread.start()
        deadline = time.monotonic() + 120
        while not _busy_on(DOOMED_IP) and thread.is_alive():
            assert time.monotonic() < deadline, "no container of the map ran on the new node"
            time.sleep(0.1)  # watching the cluster from outside: nothing to wait on
        ray_cluster.stop_node(DOOMED_IP)
        thread.join(timeout=240)
        assert not thread.is_alive()
    assert not errors, errors
    assert results == [x * x for x in range(40)]
    status = on_ray.gw("server", "status")
    assert f"node {DOOMED_IP} (dead)" in status.stderr + status.stdout


def test_a_container_no_node_can_hold_fails_at_once(on_ray):
    with app.run(), pytest.raises(gw.exception.Error, match=r"cpu=64.*largest live node"):
        ray_cluster_app.huge.remote()
